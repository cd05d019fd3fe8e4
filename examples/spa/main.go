// Command spa serves the example single-page app (index.html, app.js,
// app.css, config.js) on http://localhost:5173. It is a plain static
// server: any other one works too, e.g.
// `python3 -m http.server 5173 -d examples/spa`.
//
//	ALLOWED_RETURN_URLS=http://localhost:5173/ scripts/run   # the broker on :8080
//	go run ./examples/resource-server                        # the protected API on :8081
//	go run ./examples/spa                                    # this app on :5173
package main

import (
	"embed"
	"io/fs"
	"log"
	"net/http"
	"os"
	"time"
)

//go:embed index.html app.js app.css config.js
var files embed.FS

func main() {
	addr := os.Getenv("LISTEN_ADDR")
	if addr == "" {
		addr = "localhost:5173"
	}
	static, err := fs.Sub(files, ".")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           http.FileServerFS(static),
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Printf("example SPA on http://%s/", addr)
	log.Fatal(srv.ListenAndServe())
}
