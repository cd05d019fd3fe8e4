// An API that trusts authbroker's access tokens:
//
//   AUTHBROKER_ISSUER=http://localhost:8080 PORT=8082 node server.mjs
//
// GET /api/hello (any signed-in member) and GET /api/admin (role admin).
// Settings: AUTHBROKER_ISSUER (the broker's BASE_URL), AUTHBROKER_AUDIENCE
// (JWT_AUDIENCE, default authbroker), AUTHBROKER_ALGS (default ES256),
// AUTHBROKER_CLOCK_TOLERANCE (seconds, default 30), ALLOWED_ORIGINS (CORS,
// comma-separated), PORT (default 8082; 0 picks a free one).
import express from "express";
import { requireAuth, requireRole } from "./auth.mjs";

const env = process.env;
const auth = requireAuth({
  issuer: env.AUTHBROKER_ISSUER || "http://localhost:8080",
  audience: env.AUTHBROKER_AUDIENCE || "authbroker",
  algorithms: (env.AUTHBROKER_ALGS || "ES256").split(","),
  clockTolerance: Number(env.AUTHBROKER_CLOCK_TOLERANCE ?? 30),
});
const origins = new Set((env.ALLOWED_ORIGINS || "http://localhost:5173").split(",").filter(Boolean));

const app = express();
app.disable("x-powered-by");
app.use((req, res, next) => {
  const origin = req.get("origin");
  if (origin && origins.has(origin)) {
    res.set({ "Access-Control-Allow-Origin": origin, Vary: "Origin", "Access-Control-Allow-Headers": "Authorization, Content-Type", "Access-Control-Max-Age": "600" });
  }
  if (req.method === "OPTIONS") return res.sendStatus(204);
  next();
});

app.get("/api/hello", auth, (req, res) => {
  res.json({ member_id: req.auth.sub, email: req.auth.email ?? null, role: req.auth.role, session_id: req.auth.sid });
});
app.get("/api/admin", auth, requireRole("admin"), (req, res) => {
  res.json({ member_id: req.auth.sub, admin: true });
});

const server = app.listen(Number(env.PORT ?? 8082), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
