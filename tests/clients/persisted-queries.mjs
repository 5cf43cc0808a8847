// Apollo Client with its persisted-query link against Portal: `node persisted-queries.mjs URL`.
// Runs the same query three times (network-only) and prints one JSON line with what each
// HTTP request carried and answered, for the Rust test to judge.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";

const url = process.argv[2];
const requests = [];
const recordingFetch = async (input, init = {}) => {
  const response = await fetch(input, init);
  const body = await response.clone().json();
  const target = new URL(String(input));
  requests.push({
    method: init.method ?? "GET",
    sentQuery: target.searchParams.has("query") || (typeof init.body === "string" && JSON.parse(init.body).query !== undefined),
    status: response.status,
    code: body.errors?.[0]?.extensions?.code ?? null,
  });
  return response;
};

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
  new HttpLink({ uri: url, fetch: recordingFetch }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const query = gql`
  query Countries {
    countries {
      code
    }
  }
`;
const counts = [];
for (let i = 0; i < 3; i++) {
  const result = await client.query({ query, fetchPolicy: "network-only" });
  counts.push(result.data.countries.length);
}
console.log(JSON.stringify({ counts, requests }));
