// GraphiQL as an administrator uses it, in Debian's Chromium with every address but the
// server's closed: `node graphiql.mjs ORIGIN EMAIL PASSWORD JOB_ID`. Signs in by running the
// login mutation in the editor, pastes the token into the Headers tab, runs a query, then
// follows an importProgress subscription over the websocket. Prints one JSON line.
import { chromium } from "playwright-core";

const [origin, email, password, jobId] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const outside = [];
const context = await browser.newContext();
// The network is closed but for the server: anything else the page asks for is refused and noted.
await context.route("**/*", (route) => {
  const url = route.request().url();
  if (url.startsWith(origin + "/")) return route.continue();
  outside.push(url);
  return route.abort();
});
const page = await context.newPage();
const frames = [];
let completed;
const subscriptionCompleted = new Promise((resolve) => (completed = resolve));
page.on("websocket", (socket) => {
  socket.on("framereceived", (frame) => {
    frames.push({ url: socket.url(), payload: String(frame.payload) });
    if (JSON.parse(String(frame.payload)).type === "complete") completed();
  });
});
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(String(error)));


await page.goto(origin + "/graphql");
await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror", { timeout: 20000 });

// GraphiQL's editors are CodeMirror 5 instances: the query, the headers (the visible tool) and the response.
const QUERY = ".graphiql-query-editor .CodeMirror";
const HEADERS = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror";
const RESPONSE = ".graphiql-response .CodeMirror";
// Functions, not strings: the page's policy forbids eval, and it applies to the test too.
const setEditor = (selector, text) =>
  page.evaluate(([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text), [selector, text]);
const valueOf = (selector) => page.evaluate((selector) => document.querySelector(selector).CodeMirror.getValue(), selector);
const run = async (query, until) => {
  await setEditor(RESPONSE, "");
  await setEditor(QUERY, query);
  // GraphiQL reads the document's operations a moment after an edit (and stores the text);
  // clicking before would run what was there before.
  await page.waitForFunction((query) => localStorage.getItem("graphiql:query") === query, query);
  await page.click(".graphiql-execute-button");
  await page
    .waitForFunction(
      ([selector, until]) => document.querySelector(selector).CodeMirror.getValue().includes(until),
      [RESPONSE, until],
      { timeout: 20000 },
    )
    .catch(async (error) => {
      if (process.env.GRAPHIQL_SCREENSHOT) await page.screenshot({ path: process.env.GRAPHIQL_SCREENSHOT });
      throw new Error(`no ${until} in the answer to ${query}: ${await valueOf(RESPONSE)} (${error.message})`);
    });
  return valueOf(RESPONSE);
};

const defaultQuery = await valueOf(QUERY);
const login = JSON.parse(
  await run(`mutation SignIn { login(email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)}) { token } }`, "token"),
);
const token = login.data.login.token;
await setEditor(HEADERS, JSON.stringify({ Authorization: `Bearer ${token}` }));
const viewer = JSON.parse(await run("query Me { viewer { email role } }", "email"));
const progress = await run(
  `subscription Follow { importProgress(jobId: ${JSON.stringify(jobId)}) { jobId status totalRows processedRows } }`,
  "VALIDATED",
);
// The answer shows before the server's `complete` frame arrives: wait for it (or give up).
await Promise.race([subscriptionCompleted, new Promise((resolve) => setTimeout(resolve, 10000))]);
const explorerButtons = await page.locator('[aria-label="Show GraphiQL Explorer"]').count();
if (process.env.GRAPHIQL_SCREENSHOT) await page.screenshot({ path: process.env.GRAPHIQL_SCREENSHOT });
await browser.close();
console.log(JSON.stringify({
  outside,
  pageErrors,
  explorerButtons,
  defaultQuery,
  viewer: viewer.data.viewer,
  progress: JSON.parse(progress),
  websocket: frames.map((f) => ({ url: f.url, type: JSON.parse(f.payload).type })),
}));
