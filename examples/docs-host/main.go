// Command docs-host is clawchat's example host app (docs/embed.md): a textarea "document" with
// the clawchat sidebar, two users, a backend that signs tokens, and suggestions applied into the
// textarea. `make demo-embed` runs it with the demo Gateway and clawchat.
//
//	go run ./examples/docs-host -clawchat http://127.0.0.1:8080 -key data/docs-host.key
//
// On first start it writes an Ed25519 key pair: -key (private, 0600) and -key + ".pub" (the
// public key clawchat verifies with: CLAWCHAT_EMBED_COMPOSE_KEY_FILE).
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/clawchat/clawchat/examples/docs-host/host"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	clawchat := flag.String("clawchat", "http://127.0.0.1:8080", "clawchat's public URL (also the tokens' aud)")
	app := flag.String("app", "compose", "the host app id clawchat knows this host by")
	keyPath := flag.String("key", "docs-host.key", "Ed25519 private key (PEM, PKCS#8); created when missing, with <key>.pub")
	flag.Parse()
	key, err := host.LoadOrCreateKey(*keyPath)
	if err != nil {
		log.Fatal(err)
	}
	h := host.New(host.Config{ClawchatURL: *clawchat, App: *app, Key: key, Users: host.DefaultUsers(), Docs: host.DefaultDocs()})
	log.Printf("docs-host on http://%s (clawchat %s, app %s, public key %s.pub)", *listen, *clawchat, *app, *keyPath)
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
