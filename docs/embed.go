// Package docs carries the documents the broker serves itself: the OpenAPI
// description of its HTTP surface (openapi.yaml, served at /openapi.yaml).
// The file lives here, with the other documentation, and is embedded from
// here so that the served copy is the file in the repository.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI string
