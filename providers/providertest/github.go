package providertest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// NewGitHub starts a fake GitHub: /login/oauth/authorize,
// /login/oauth/access_token (form-encoded unless Accept: application/json;
// errors with HTTP 200), and the REST API under /api/v3 (as on GitHub
// Enterprise Server): GET /user, GET /user/emails (paginated with Link),
// POST /applications/{client_id}/token.
func NewGitHub(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return newServer(t, kindGitHub, User{
		ID: "583231", Login: "ada", Email: "ada@example.com", EmailVerified: true,
		Name: "Ada Lovelace", Picture: "https://avatars.githubusercontent.com/u/583231",
	}, opts...)
}

func githubNotFound() map[string]any {
	return map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}
}

func (s *Server) githubAuthed(w http.ResponseWriter, r *http.Request, ep Endpoint) (issued, bool) {
	it, ok := s.bearer(r)
	if !ok {
		s.writeJSON(w, ep, http.StatusUnauthorized, map[string]any{
			"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401",
		})
	}
	return it, ok
}

// githubUser is GET /user: email is only the public address.
func (s *Server) githubUser(w http.ResponseWriter, r *http.Request) {
	it, ok := s.githubAuthed(w, r, UserInfo)
	if !ok {
		return
	}
	u := it.user
	id, err := strconv.ParseInt(u.ID, 10, 64)
	if err != nil {
		http.Error(w, "fake GitHub user ids are numeric", http.StatusInternalServerError)
		return
	}
	var name, public any
	if u.Name != "" {
		name = u.Name
	}
	for _, e := range s.githubEmailsOf(u) {
		if e.Visibility != nil && *e.Visibility == "public" {
			public = e.Email
		}
	}
	s.writeJSON(w, UserInfo, http.StatusOK, map[string]any{
		"login": u.Login, "id": id, "node_id": "MDQ6VXNlcj" + u.ID, "avatar_url": u.Picture,
		"type": "User", "site_admin": false, "name": name, "email": public,
	})
}

func (s *Server) githubEmailsOf(u User) []GitHubEmail {
	if u.GitHubEmails != nil {
		return u.GitHubEmails
	}
	if u.Email == "" {
		return []GitHubEmail{}
	}
	private := "private"
	return []GitHubEmail{{Email: u.Email, Primary: true, Verified: u.EmailVerified, Visibility: &private}}
}

// githubEmails is GET /user/emails, which needs the user:email (or user)
// scope and pages with per_page/page and a Link header.
func (s *Server) githubEmails(w http.ResponseWriter, r *http.Request) {
	it, ok := s.githubAuthed(w, r, Emails)
	if !ok {
		return
	}
	scopes := strings.Split(it.scope, ",")
	granted := false
	for _, sc := range scopes {
		for _, f := range strings.Fields(sc) {
			if f == "user:email" || f == "user" {
				granted = true
			}
		}
	}
	if !granted {
		s.writeJSON(w, Emails, http.StatusNotFound, githubNotFound())
		return
	}
	all := s.githubEmailsOf(it.user)
	perPage := 30
	if n, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && n > 0 && n <= 100 {
		perPage = n
	}
	if it.user.EmailsPerPage > 0 && it.user.EmailsPerPage < perPage {
		perPage = it.user.EmailsPerPage
	}
	page := 1
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 {
		page = n
	}
	start := min((page-1)*perPage, len(all))
	end := min(start+perPage, len(all))
	last := max(1, (len(all)+perPage-1)/perPage)
	if page < last {
		link := func(p int) string {
			return fmt.Sprintf("<%s/api/v3/user/emails?per_page=%d&page=%d>", s.URL, perPage, p)
		}
		w.Header().Set("Link", link(page+1)+`; rel="next", `+link(last)+`; rel="last"`)
	}
	s.writeJSON(w, Emails, http.StatusOK, all[start:end])
}

// githubCheckToken is POST /applications/{client_id}/token ("Check a
// token"): Basic auth with the app's credentials; 404 for tokens that are
// not the app's.
func (s *Server) githubCheckToken(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.ClientID || pass != s.ClientSecret || r.PathValue("client") != s.ClientID {
		s.writeJSON(w, CheckToken, http.StatusNotFound, githubNotFound())
		return
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(r, &body); err != nil || body.AccessToken == "" {
		s.writeJSON(w, CheckToken, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	it, known := s.tokens[body.AccessToken]
	s.mu.Unlock()
	if !known || it.foreign {
		s.writeJSON(w, CheckToken, http.StatusNotFound, githubNotFound())
		return
	}
	id, _ := strconv.ParseInt(it.user.ID, 10, 64)
	s.writeJSON(w, CheckToken, http.StatusOK, map[string]any{
		"id": 1, "token": body.AccessToken, "scopes": strings.Split(it.scope, ","),
		"app":  map[string]any{"client_id": s.ClientID, "name": "authbroker", "url": s.URL},
		"user": map[string]any{"login": it.user.Login, "id": id},
	})
}
