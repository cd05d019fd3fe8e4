// Package e2e tests authbroker the way its users meet it: a real browser
// (Debian's Chromium, driven by chromedp) signing in to the example SPA
// through the broker and a fake provider, calling the example resource
// server, refreshing and signing out; and verifiers that share no code with
// the broker (Node's jose, go-oidc) accepting its tokens and discovery
// document.
//
// Everything runs in-process on 127.0.0.1: the broker (app.Build), the SPA's
// static files, the resource server and the fake providers. Chromium is
// found at $AUTHBROKER_CHROMIUM or /usr/bin/chromium, Node's jose under
// jose/node_modules (scripts/test installs both). Without them the tests
// skip locally and fail under CI=true.
package e2e
