// A TypeScript app using @authbroker/client: compiled (not run) by
// `npm run typecheck` to prove the declarations describe the API.
import AuthBrokerDefault, { AuthBroker, AuthBrokerError, attachAxios, type Member, type Session } from "@authbroker/client";
import axios from "axios";

const auth: AuthBroker = new AuthBroker({
  baseUrl: "https://auth.example.com",
  apiOrigins: ["https://api.example.com"],
  persist: "memory",
  onChange: (m: Member | null) => console.log(m?.email),
});
const same: typeof AuthBroker = AuthBrokerDefault;

auth.addEventListener("change", (e) => render(e.detail.member));
auth.addEventListener("refresh", (e) => console.log("renewed", e.detail.shared));
auth.addEventListener("link", (e) => console.log("linked", e.detail.identity.provider));

function render(m: Member | null): void {
  document.title = m ? m.name ?? m.email ?? m.id : "signed out";
}

async function main(): Promise<void> {
  try {
    await auth.handleRedirect();
  } catch (e) {
    if (e instanceof AuthBrokerError && e.code === "already_signed_in") await auth.login("google", { force: true });
  }
  const res: Response = await auth.fetch("https://api.example.com/hello");
  console.log(res.status);

  // axios: credentials on every request to an allowed origin, one refresh
  // for any number of 401 token_expired answers.
  const api = axios.create({ baseURL: "https://api.example.com" });
  const detach: () => void = attachAxios(auth, api);
  await api.get("/hello");
  detach();

  // GraphQL / WebSocket: the token, renewed when needed.
  const token: string | null = await auth.getAccessToken({ minValidity: 60 });
  const ws = new WebSocket("wss://api.example.com/ws", token ? ["bearer", token] : []);
  ws.close();

  const sessions: Session[] = await auth.sessions();
  for (const s of sessions.filter((s) => !s.current)) await auth.revokeSession(s.id);
  const me = await auth.me();
  for (const id of me.identities) console.log(id.provider, id.subject, id.email_verified);
  if (me.identities.length > 1) await auth.unlink(me.identities[1].provider, me.identities[1].subject);
  await auth.link("github");
  await auth.logout("global");
  auth.close();
  console.log(same === AuthBroker);
}

void main();
