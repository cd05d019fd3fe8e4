// Type declarations of @authbroker/client (src/authbroker.js). Checked by
// `tsc --noEmit` together with examples/typed.ts.

/** Header the broker requires on cookie-authenticated POSTs. */
export declare const CSRF_HEADER: "X-AuthBroker-CSRF";

/** A member as the broker returns it (POST /auth/token, GET /auth/me). */
export interface Member {
  id: string;
  email?: string;
  name?: string;
  avatar?: string;
  role: "user" | "admin" | (string & {});
  [claim: string]: unknown;
}

/** A linked provider account (GET /auth/me, POST /auth/link/complete). */
export interface Identity {
  provider: string;
  subject: string;
  member_id: string;
  email?: string;
  email_verified: boolean;
  name?: string;
  avatar?: string;
  created_at: string;
  updated_at: string;
}

/** GET /auth/me. */
export interface MemberDetails extends Member {
  status: "active" | "disabled" | (string & {});
  created_at: string;
  identities: Identity[];
}

/** One of the member's sessions (GET /auth/sessions). */
export interface Session {
  id: string;
  member_id: string;
  provider: string;
  user_agent?: string;
  ip?: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  /** The session this browser uses. */
  current: boolean;
}

/** Error codes the broker and this client report; other strings may appear. */
export type AuthBrokerErrorCode =
  | "invalid_request"
  | "invalid_grant"
  | "invalid_token"
  | "token_expired"
  | "access_denied"
  | "already_signed_in"
  | "account_disabled"
  | "provider_error"
  | "temporarily_unavailable"
  | "provider_reauth_required"
  | "insufficient_scope"
  | "network_error"
  | "login_required"
  | "insecure_context"
  | "storage_unavailable"
  | "cookie_mode"
  | "not_in_browser"
  | "server_error"
  | (string & {});

/** A failure the app can act on. */
export declare class AuthBrokerError extends Error {
  constructor(code: AuthBrokerErrorCode, description?: string, status?: number);
  readonly name: "AuthBrokerError";
  /** The broker's stable error code, or one of this client's. */
  readonly code: AuthBrokerErrorCode;
  readonly description: string;
  /** HTTP status, 0 when there was none. */
  readonly status: number;
  /** provider_reauth_required: where to send the browser to reconnect (see AuthBroker.reconnect). */
  readonly reauthUrl?: string;
  /** insufficient_scope: the scopes the grant lacks, space-separated. */
  readonly scope?: string;
}

/** A provider's own access token for the member's identity there (GET /auth/identities/{provider}/token). */
export interface ProviderToken {
  accessToken: string;
  tokenType: string;
  /** null for a token that does not expire (GitHub OAuth apps). */
  expiresAt: Date | null;
  /** The scopes granted. */
  scope: string[];
}

/** Parts of the runtime the client uses; each defaults to globalThis's. */
export interface Platform {
  fetch?: typeof fetch | null;
  location?: Pick<Location, "href" | "origin" | "pathname" | "assign"> | null;
  history?: Pick<History, "state" | "replaceState"> | null;
  crypto?: Crypto | null;
  sessionStorage?: Storage | null;
  localStorage?: Storage | null;
  locks?: LockManager | null;
  BroadcastChannel?: { new (name: string): BroadcastChannel } | null;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (id: any) => void;
}

export interface AuthBrokerOptions {
  /** The broker's BASE_URL, e.g. "https://auth.example.com". */
  baseUrl: string;
  /** Where the broker sends the browser back; must be on ALLOWED_RETURN_URLS (default: this page without query). */
  returnTo?: string;
  /** The broker's TOKEN_DELIVERY (default "code"). */
  delivery?: "code" | "cookie";
  /** Code mode: where the refresh token lives (default "memory"; "session" = sessionStorage). */
  persist?: "memory" | "session";
  /** Origins that may receive the user's credentials besides the broker's and this page's. */
  apiOrigins?: string[];
  /** Refresh shortly before the access token expires (default true). */
  autoRefresh?: boolean;
  /** Seconds before expiry to refresh (default 30; at most half the token's lifetime). */
  refreshLeeway?: number;
  /** Share one session across the tabs of this origin (default true). */
  crossTab?: boolean;
  /** Shorthand for addEventListener("change", e => fn(e.detail.member)). */
  onChange?: (member: Member | null) => void;
  /** The fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  /** Runtime overrides, for tests and unusual runtimes. */
  platform?: Platform;
}

export interface AuthBrokerEventMap {
  change: CustomEvent<{ member: Member | null }>;
  refresh: CustomEvent<{ member: Member | null; shared: boolean }>;
  error: CustomEvent<{ error: unknown }>;
  link: CustomEvent<{ identity: Identity }>;
  providerreauth: CustomEvent<{ provider: string; subject: string | null; reauthUrl: string }>;
  reconnect: CustomEvent<{ provider: string }>;
}

export declare class AuthBroker extends EventTarget {
  constructor(options: AuthBrokerOptions);
  static readonly Error: typeof AuthBrokerError;
  static readonly CSRF_HEADER: typeof CSRF_HEADER;
  static readonly attachAxios: typeof attachAxios;

  readonly baseUrl: string;
  readonly delivery: "code" | "cookie";
  readonly persist: "memory" | "session";
  autoRefresh: boolean;
  refreshLeeway: number;
  readonly crossTab: boolean;
  returnTo: string;

  /** The signed-in member, or null. */
  readonly member: Member | null;
  readonly signedIn: boolean;
  /** The current session's id (the access token's sid); null in cookie mode or signed out. */
  readonly sessionId: string | null;
  /** The generation of the current credentials (pass it to renewAfter). */
  readonly generation: number;

  /** Sends the browser to sign in (a provider, or the broker's login page). */
  login(provider?: string, opts?: { force?: boolean }): Promise<void>;
  /** Call on every page load: finishes ?code, reports ?error, confirms ?link_result, or restores. */
  handleRedirect(): Promise<Member | null>;
  /** Restores the session from another tab, sessionStorage (persist "session") or cookies. */
  restore(): Promise<Member | null>;
  /** Renews the tokens now: one refresh for every caller and every tab. */
  refresh(): Promise<Member | null>;
  /** The access token, renewed when it expires within minValidity seconds; null when signed out. */
  getAccessToken(opts?: { minValidity?: number }): Promise<string | null>;
  /** Whether url may receive the user's credentials. */
  allows(url: string | URL): boolean;
  /** After a 401: renews unless the credentials changed since gen; whether to retry. */
  renewAfter(gen: number): Promise<boolean>;
  /** fetch() with credentials; one refresh and one retry after 401 token_expired. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Ends this session (every tab of this origin), the member's others, or all of them. */
  logout(scope?: "local" | "others" | "global"): Promise<void>;
  /** GET /auth/me. */
  me(): Promise<MemberDetails>;
  /** GET /auth/sessions. */
  sessions(): Promise<Session[]>;
  /** DELETE /auth/sessions/{id}; the current one signs out every tab. */
  revokeSession(id: string): Promise<void>;
  /** Starts linking another provider account; the browser navigates away. */
  link(provider: string, opts?: { returnTo?: string }): Promise<void>;
  /** DELETE /auth/identities/{provider}/{subject} (never the last one: 409). */
  unlink(provider: string, subject: string): Promise<void>;
  /**
   * The provider's access token for the member's identity (renewed by the broker before it expires).
   * Rejects with provider_reauth_required (and a "providerreauth" event) when the grant is gone.
   */
  providerToken(provider: string, opts?: { scope?: string | string[]; subject?: string; returnTo?: string }): Promise<ProviderToken>;
  /** Sends the browser to renew a gone grant: a reauthUrl, or the error or event detail carrying one. */
  reconnect(target: string | { reauthUrl?: string }): void;
  /** Stops timers and leaves the other tabs. */
  close(): void;

  addEventListener<K extends keyof AuthBrokerEventMap>(
    type: K,
    listener: (this: AuthBroker, ev: AuthBrokerEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof AuthBrokerEventMap>(
    type: K,
    listener: (this: AuthBroker, ev: AuthBrokerEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** The structural part of an axios instance that attachAxios uses (axios is not a dependency). */
export interface AxiosLike {
  interceptors: {
    request: { use(onFulfilled: (config: any) => any, onRejected?: (error: any) => any): number; eject(id: number): void };
    response: { use(onFulfilled: ((response: any) => any) | undefined, onRejected?: (error: any) => any): number; eject(id: number): void };
  };
  request(config: any): Promise<any>;
  getUri?(config?: any): string;
}

/**
 * Adds credentials to an axios instance's requests (allows() origins only)
 * and retries once after 401 token_expired, one refresh for every request
 * that failed together. Returns a function that removes the interceptors.
 */
export declare function attachAxios(auth: AuthBroker, axios: AxiosLike): () => void;

/** The OAuth error code of a JSON error response, or "". */
export declare function errorCode(res: Response): Promise<string>;

export default AuthBroker;
