import { assertEquals } from "./support/assert.ts";
import { studiesSuffixProblem } from "../src/dicomweb_url.ts";

Deno.test("studiesSuffixProblem: an address ending in /studies is refused with one sentence naming the root", () => {
  assertEquals(
    studiesSuffixProblem("https://pacs.example/dicom-web/studies"),
    "The upload address ends in /studies: give the DICOMweb root instead (https://pacs.example/dicom-web), " +
      "the gateway adds /studies itself.",
  );
  assertEquals(
    studiesSuffixProblem("https://pacs.example/dicom-web/Studies/")?.includes(
      "(https://pacs.example/dicom-web)",
    ),
    true,
  );
  assertEquals(studiesSuffixProblem("https://pacs.example/dicom-web"), null);
  assertEquals(studiesSuffixProblem("https://pacs.example/studies-archive/dicom-web"), null);
  assertEquals(studiesSuffixProblem("https://pacs.example/dicom-web?next=/studies"), null);
  assertEquals(studiesSuffixProblem("not a url"), null);
});
