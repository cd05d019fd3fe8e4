// Verifies an authbroker access token with jose, a JOSE library that shares
// no code with the broker, the way a Node backend would:
//
//   node verify.mjs --jwks URL --issuer ISS --audience AUD < token
//
// It fetches the JWKS (createRemoteJWKSet), checks the signature with the
// key named by kid, the algorithm against the key's, iss, aud, exp/nbf and
// the RFC 9068 typ "at+jwt" header, then prints {"header":…,"payload":…}
// as JSON. Exit status: 0 verified, 1 refused (the reason on stderr, with
// jose's error code), 2 bad usage.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    jwks: { type: "string" },
    issuer: { type: "string" },
    audience: { type: "string" },
    algorithms: { type: "string", default: "ES256,RS256,EdDSA" },
  },
});
if (!values.jwks || !values.issuer || !values.audience) {
  console.error("usage: node verify.mjs --jwks URL --issuer ISS --audience AUD < token");
  process.exit(2);
}

let token = "";
for await (const chunk of process.stdin) token += chunk;
token = token.trim();

const keys = createRemoteJWKSet(new URL(values.jwks));
try {
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer: values.issuer,
    audience: values.audience,
    typ: "at+jwt",
    algorithms: values.algorithms.split(","),
    requiredClaims: ["exp", "iat", "sub", "jti"],
  });
  process.stdout.write(JSON.stringify({ header: protectedHeader, payload }) + "\n");
} catch (err) {
  console.error(`refused: ${err.code || err.name}: ${err.message}`);
  process.exit(1);
}
