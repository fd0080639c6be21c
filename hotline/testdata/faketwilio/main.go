// Command faketwilio answers Twilio's Messages API on a local address, for
// benchmarks that drive a running server with Twilio credentials set (see
// docs/benchmarks.md, "The hotline against a running server"): every
// message is accepted as queued, nothing is sent anywhere.
//
//	go run ./hotline/testdata/faketwilio -listen 127.0.0.1:18081
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to answer on")
	flag.Parse()
	var n atomic.Int64
	http.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("To") == "" || r.Form.Get("Body") == "" {
			http.Error(w, `{"code":21604,"message":"A 'To' phone number and a 'Body' are required."}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032x","status":"queued","to":%q}`, n.Add(1), r.Form.Get("To"))
	})
	log.Printf("fake Twilio Messages API on http://%s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
