package echobearer_test

import (
	"log"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authbroker/authbroker/handlers/bearer"
	"github.com/authbroker/authbroker/handlers/bearer/echobearer"
)

func Example() {
	const broker = "https://auth.example.com"
	v, err := bearer.New(broker, "my-app", bearer.NewJWKS(broker+"/.well-known/jwks.json"))
	if err != nil {
		log.Fatal(err)
	}
	e := echo.New()
	me := func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"member": echobearer.FromContext(c).Subject})
	}
	e.GET("/me", me, echobearer.Middleware(v))
	e.GET("/admin", me, echobearer.Middleware(v), echobearer.RequireRole("admin"))
	_ = e.Start("localhost:8081")
}
