import { assertEquals } from "../status/helpers.ts";
import { setTomlKey } from "../../src/config/toml_edit.ts";

Deno.test("setTomlKey keeps comments, replaces in place, inserts and appends", () => {
  const text = '# top\nport = 4104 # the port\n\n[upload]\n# where\nurl = "" # empty\nconcurrency = 4\n';
  assertEquals(
    setTomlKey(text, "upload", "url", "https://x/dw"),
    '# top\nport = 4104 # the port\n\n[upload]\n# where\nurl = "https://x/dw" # empty\nconcurrency = 4\n',
  );
  assertEquals(
    setTomlKey(text, "upload", "proxy", ""),
    '# top\nport = 4104 # the port\n\n[upload]\n# where\nurl = "" # empty\nconcurrency = 4\nproxy = ""\n',
  );
  assertEquals(
    setTomlKey(text, "upload.auth", "kind", "basic"),
    '# top\nport = 4104 # the port\n\n[upload]\n# where\nurl = "" # empty\nconcurrency = 4\n\n[upload.auth]\nkind = "basic"\n',
  );
  assertEquals(setTomlKey(text, "", "port", 11112).split("\n")[1], "port = 11112 # the port");
  assertEquals(
    setTomlKey('a = "x"\n', "", "a", 'say "hi" \\ C:\\x').trim(),
    'a = "say \\"hi\\" \\\\ C:\\\\x"',
  );
});
