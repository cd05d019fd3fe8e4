// Express middleware that verifies authbroker access tokens with jose, the
// way any Node backend can: keys from the broker's JWKS (fetched once,
// cached, refetched when a token names an unknown kid), the algorithm
// pinned, iss, aud, exp/nbf and the RFC 9068 typ "at+jwt" checked.
//
// Failures answer 401 with RFC 6750's WWW-Authenticate and the JSON body
// the broker's own routes use, so @authbroker/client can tell "refresh
// now" ({"error":"token_expired"}) from "sign in again" ("invalid_token").
import { createRemoteJWKSet, jwtVerify, errors } from "jose";

/**
 * @param {object} o
 * @param {string} o.issuer     the broker's BASE_URL
 * @param {string} o.audience   JWT_AUDIENCE ("authbroker" by default)
 * @param {string[]} [o.algorithms]  JWT_ALG of the broker (default ES256)
 * @param {number} [o.clockTolerance] seconds of leeway on exp/nbf (default 30)
 */
export function requireAuth({ issuer, audience, algorithms = ["ES256"], clockTolerance = 30 }) {
  const jwks = createRemoteJWKSet(new URL(issuer.replace(/\/+$/, "") + "/.well-known/jwks.json"));
  return async function authenticate(req, res, next) {
    const m = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)$/i.exec(req.get("authorization") || "");
    if (!m) return refuse(res, "invalid_token", "a bearer token is required");
    try {
      const { payload } = await jwtVerify(m[1], jwks, {
        issuer,
        audience,
        algorithms,
        typ: "at+jwt",
        clockTolerance,
        requiredClaims: ["sub", "exp", "iat", "jti"],
      });
      req.auth = payload; // sub (member id), sid, role, email, name
      return next();
    } catch (err) {
      if (err instanceof errors.JWTExpired) return refuse(res, "token_expired", "the access token expired");
      if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError)) {
        // The broker's keys could not be fetched: not the token's fault,
        // and "invalid_token" would send the user to sign in again.
        res.set("Retry-After", "5");
        return res.status(503).json({ error: "temporarily_unavailable", error_description: "the signing keys are unavailable" });
      }
      return refuse(res, "invalid_token", "the access token is invalid");
    }
  };
}

/** Answers 403 unless the verified token's role is role (use after requireAuth). */
export function requireRole(role) {
  return (req, res, next) =>
    req.auth && req.auth.role === role ? next() : res.status(403).json({ error: "insufficient_scope", error_description: "requires role " + role });
}

function refuse(res, code, description) {
  // RFC 6750 §3: the error is invalid_token either way; the body says which.
  res.set("WWW-Authenticate", `Bearer error="invalid_token", error_description="${description}"`);
  return res.status(401).json({ error: code, error_description: description });
}
