// A TypeScript app using @authbroker/client: compiled (not run) by
// `npm run typecheck` to prove the declarations describe the API.
import AuthBrokerDefault, { AuthBroker, AuthBrokerError, attachAxios, type Member, type ProviderToken, type Session } from "@authbroker/client";
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
auth.addEventListener("providerreauth", (e) => showReconnect(e.detail.provider, () => auth.reconnect(e.detail)));
auth.addEventListener("reconnect", (e) => console.log("reconnected", e.detail.provider));

function showReconnect(provider: string, onClick: () => void): void {
  const b = document.createElement("button");
  b.textContent = "Reconnect " + provider;
  b.onclick = onClick;
  document.body.append(b);
}

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
  // The provider's own token, to call its API on the member's behalf.
  try {
    const g: ProviderToken = await auth.providerToken("google", { scope: ["https://www.googleapis.com/auth/calendar.readonly"] });
    const when: string = g.expiresAt ? g.expiresAt.toISOString() : "never";
    await fetch("https://www.googleapis.com/calendar/v3/users/me/calendarList", { headers: { Authorization: g.tokenType + " " + g.accessToken } });
    console.log(when, g.scope.join(" "));
  } catch (e) {
    if (e instanceof AuthBrokerError && e.code === "provider_reauth_required" && e.reauthUrl) auth.reconnect(e.reauthUrl);
    if (e instanceof AuthBrokerError && e.code === "insufficient_scope") console.log("missing", e.scope);
  }
  await auth.link("github");
  await auth.logout("global");
  auth.close();
  console.log(same === AuthBroker);
}

void main();
