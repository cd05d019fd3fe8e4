package providers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authbroker/authbroker/providers"
	"github.com/authbroker/authbroker/providers/providertest"
)

// fakeProvider pairs a fake with a constructor and the endpoint whose
// failures matter: the profile API for OAuth providers; for OIDC the JWKS
// (read by go-oidc, so the size cap is ours) or the token endpoint.
type fakeProvider struct {
	name     string
	start    func(*testing.T) *providertest.Server
	build    func(*providertest.Server, providers.Options) (providers.Provider, error)
	profile  providertest.Endpoint
	oversize providertest.Endpoint
}

var allFakes = []fakeProvider{
	{"google", func(t *testing.T) *providertest.Server { return providertest.NewGoogle(t) },
		func(s *providertest.Server, o providers.Options) (providers.Provider, error) {
			return providers.NewGoogle(s.Provider(), o)
		},
		providertest.Token, providertest.JWKS},
	{"oidc", func(t *testing.T) *providertest.Server { return providertest.NewOIDC(t) },
		func(s *providertest.Server, o providers.Options) (providers.Provider, error) {
			return providers.NewOIDC(s.Provider(), o)
		},
		providertest.Token, providertest.Discovery},
	{"github", func(t *testing.T) *providertest.Server { return providertest.NewGitHub(t) },
		func(s *providertest.Server, o providers.Options) (providers.Provider, error) {
			return providers.NewGitHub(s.Provider(), o)
		},
		providertest.UserInfo, providertest.Emails},
	{"kakao", func(t *testing.T) *providertest.Server { return providertest.NewKakao(t) },
		func(s *providertest.Server, o providers.Options) (providers.Provider, error) {
			return providers.NewKakao(s.Provider(), o)
		},
		providertest.UserInfo, providertest.UserInfo},
	{"naver", func(t *testing.T) *providertest.Server { return providertest.NewNaver(t) },
		func(s *providertest.Server, o providers.Options) (providers.Provider, error) {
			return providers.NewNaver(s.Provider(), o)
		},
		providertest.UserInfo, providertest.UserInfo},
}

// TestProviderFailures: every provider turns a misbehaving provider into an
// error (recorded for the admin page, free of secrets), within its budget.
func TestProviderFailures(t *testing.T) {
	const timeout = 400 * time.Millisecond
	for _, fp := range allFakes {
		for _, tc := range []struct {
			rule     string
			endpoint func(fakeProvider) providertest.Endpoint
			fault    providertest.Fault
			check    func(*testing.T, error, time.Duration)
		}{
			{"timeout → error within budget", func(f fakeProvider) providertest.Endpoint { return f.profile },
				providertest.Fault{Delay: 5 * time.Second},
				func(t *testing.T, err error, took time.Duration) {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("err = %v, want a deadline error", err)
					}
					if took > 3*timeout {
						t.Errorf("took %v with a %v timeout", took, timeout)
					}
				}},
			{"oversized body → error", func(f fakeProvider) providertest.Endpoint { return f.oversize },
				providertest.Fault{Oversized: true}, nil},
			{"malformed JSON → error", func(f fakeProvider) providertest.Endpoint { return f.profile },
				providertest.Fault{Malformed: true}, nil},
			{"5xx → error", func(f fakeProvider) providertest.Endpoint { return f.profile },
				providertest.Fault{Status: 502}, nil},
		} {
			t.Run(fp.name+": "+tc.rule, func(t *testing.T) {
				fake := fp.start(t)
				o := testOptions()
				o.Timeout = timeout
				p, err := fp.build(fake, o)
				if err != nil {
					t.Fatal(err)
				}
				fake.Fail(tc.endpoint(fp), tc.fault)
				start := time.Now()
				prof, _, err := login(t, p)
				took := time.Since(start)
				if err == nil {
					t.Fatalf("login succeeded with %+v despite the fault", prof)
				}
				if msg, _ := o.Recorder.Last(fp.name); msg == "" {
					t.Error("the failure was not recorded for the admin status")
				}
				noSecrets(t, err, fake.ClientSecret)
				if tc.check != nil {
					tc.check(t, err, took)
				}
			})
		}
	}
}

func TestAccessDeniedComesBackToTheCallback(t *testing.T) {
	for _, fp := range allFakes {
		t.Run(fp.name, func(t *testing.T) {
			fake := fp.start(t)
			p, err := fp.build(fake, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			fake.Fail(providertest.Authorize, providertest.Fault{Code: "access_denied"})
			_, _, err = login(t, p)
			wantProviderError(t, err, "access_denied")
			if fake.Count(providertest.Token) != 0 {
				t.Fatal("nothing is exchanged after access_denied")
			}
		})
	}
}
