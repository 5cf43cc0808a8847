// The graphql-http package's server audits (the GraphQL over HTTP spec's reference suite)
// against a running Portal: `node audit.mjs http://127.0.0.1:PORT/graphql`.
// Prints one JSON line {"mustFailures": [...], "shouldWarnings": [...], "ok": n} for the Rust
// test to judge; exits 0 whatever the results (the test decides).
import { serverAudits } from "graphql-http";

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  results.push({ name: audit.name, ...(await audit.fn()) });
}
const failed = (level) =>
  results
    .filter((r) => r.status !== "ok" && r.name.startsWith(level))
    .map((r) => `${r.name}: ${r.reason}`);
console.log(
  JSON.stringify({
    ok: results.filter((r) => r.status === "ok").length,
    mustFailures: failed("MUST"),
    shouldWarnings: failed("SHOULD"),
    mayNotes: failed("MAY"),
  }),
);
