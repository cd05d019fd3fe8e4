// Package templates holds the broker's pages (html/template, embedded) and
// their stylesheet. Pages work without JavaScript and are served under a
// strict Content-Security-Policy, so they use no inline script or style.
package templates

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

//go:embed *.html static
var files embed.FS

// Static is the stylesheet and other assets, served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Renderer renders a named page inside the shared layout.
type Renderer struct {
	pages map[string]*template.Template
}

// New parses every page once.
func New() (*Renderer, error) {
	r := &Renderer{pages: map[string]*template.Template{}}
	pages, err := fs.Glob(files, "*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		if p == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").ParseFS(files, "layout.html", p)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		r.pages[p[:len(p)-len(".html")]] = t
	}
	return r, nil
}

// Render writes page name with data.
func (r *Renderer) Render(w io.Writer, name string, data any) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	return t.ExecuteTemplate(w, "layout.html", data)
}
