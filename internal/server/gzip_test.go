package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return out
}

func TestGzip(t *testing.T) {
	big := strings.Repeat(`{"name":"Reentry housing","phone":"816-555-0100"},`, 100)
	var pre bytes.Buffer
	zw := gzip.NewWriter(&pre)
	zw.Write([]byte(big))
	zw.Close()
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 4096)...)

	ts := newTestServer(t, Config{}, func(s *Server) {
		s.Echo.GET("/big", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", []byte(big)) })
		s.Echo.GET("/small", func(c echo.Context) error { return c.String(http.StatusOK, "tiny") })
		s.Echo.GET("/sniffed", func(c echo.Context) error {
			_, err := c.Response().Write([]byte("<!DOCTYPE html><p>" + big)) // no Content-Type set
			return err
		})
		s.Echo.GET("/precompressed", func(c echo.Context) error {
			c.Response().Header().Set("Content-Encoding", "gzip")
			return c.Blob(http.StatusOK, "application/json", pre.Bytes())
		})
		s.Echo.GET("/image", func(c echo.Context) error { return c.Blob(http.StatusOK, "image/png", png) })
		s.Echo.GET("/nocontent", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
		s.Echo.GET("/stream", func(c echo.Context) error {
			c.Response().Header().Set("Content-Type", "text/plain")
			c.Response().WriteHeader(http.StatusOK)
			c.Response().Write([]byte("first "))
			c.Response().Flush()
			c.Response().Write([]byte("second"))
			return nil
		})
	})
	gz := map[string]string{"Accept-Encoding": "gzip, deflate, br"}
	for _, tc := range []struct {
		scenario
		Gzipped bool
		Want    []byte
		WantCT  string
	}{
		{scenario{Name: "big JSON is compressed", URL: "/big", Header: gz, Status: 200}, true, []byte(big), "application/json"},
		{scenario{Name: "not without Accept-Encoding", URL: "/big", Status: 200}, false, []byte(big), "application/json"},
		{scenario{Name: "not when q=0", URL: "/big", Header: map[string]string{"Accept-Encoding": "gzip;q=0, identity"}, Status: 200}, false, []byte(big), ""},
		{scenario{Name: "small is not", URL: "/small", Header: gz, Status: 200}, false, []byte("tiny"), ""},
		{scenario{Name: "sniffed type is of the plain body", URL: "/sniffed", Header: gz, Status: 200}, true, []byte("<!DOCTYPE html><p>" + big), "text/html; charset=utf-8"},
		{scenario{Name: "already compressed passes through", URL: "/precompressed", Header: gz, Status: 200}, true, []byte(big), ""},
		{scenario{Name: "image is not", URL: "/image", Header: gz, Status: 200}, false, png, "image/png"},
		{scenario{Name: "no content", URL: "/nocontent", Header: gz, Status: 204}, false, nil, ""},
		{scenario{Name: "streamed", URL: "/stream", Header: gz, Status: 200}, true, []byte("first second"), "text/plain"},
		{scenario{Name: "error page", URL: "/hsds/nothing", Header: gz, Status: 404}, false, nil, ""},
	} {
		t.Run(tc.Name, func(t *testing.T) {
			res, b := ts.check(t, tc.scenario)
			if v := res.Header.Get("Vary"); tc.URL != "/hsds/nothing" && !strings.Contains(v, "Accept-Encoding") {
				t.Errorf("Vary = %q", v)
			}
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.Gzipped {
				t.Fatalf("Content-Encoding = %q, want gzip %v", res.Header.Get("Content-Encoding"), tc.Gzipped)
			}
			if tc.Gzipped {
				b = gunzip(t, b) // exactly once: twice would fail here
			}
			if tc.Want != nil && !bytes.Equal(b, tc.Want) {
				t.Errorf("body %d bytes, want %d bytes", len(b), len(tc.Want))
			}
			if tc.WantCT != "" && res.Header.Get("Content-Type") != tc.WantCT {
				t.Errorf("Content-Type = %q, want %q", res.Header.Get("Content-Type"), tc.WantCT)
			}
		})
	}

	// /metrics is left to promhttp, which compresses on its own: the body
	// must be gzip exactly once.
	res, b := ts.check(t, scenario{URL: "/metrics", Header: gz, Status: 200})
	if res.Header.Get("Content-Encoding") == "gzip" {
		b = gunzip(t, b)
	}
	if !bytes.Contains(b, []byte("http_requests_total")) {
		t.Errorf("metrics body unreadable:\n%.300s", b)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"GZIP":                true,
		"deflate, gzip;q=0.5": true,
		"gzip;q=0":            false,
		"gzip; q=0.0, br":     false,
		"br, zstd":            false,
		"x-gzip":              false,
		" gzip , deflate":     true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
