//go:build screenshots

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/testkit/ochar"
)

// TestScreenshots regenerates docs/screenshots/*.png from the real clawchat binary in front of a
// real OpenClaw Gateway: a conversation with reasoning ([think]), markdown, a tool card ([tool])
// and a code block, at desktop (1280×800) and mobile (390×844 @2x) sizes, light and dark, plus
// the sign-in page. Opt-in, because it writes into the repository:
//
//	go test -tags screenshots -count=1 -run TestScreenshots ./e2e/
//
// optipng (apt) shrinks the files when it is installed.
func TestScreenshots(t *testing.T) {
	out, err := filepath.Abs(filepath.Join("..", "docs", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	// A reasoning model, so that OpenClaw streams what the scripted model's [think] produces.
	g := ownGateway(t, ochar.Options{Reasoning: true})
	srv := startServer(t, g)
	b := newBrowser(t)
	b.reducedMotion(t) // no sidebar slide caught mid-way when the viewport changes

	b.viewport(t, 390, 844, 2, true)
	b.colorScheme(t, "light")
	b.do(t, "open sign-in page", chromedp.Navigate(srv.URL+"/"))
	b.wait(t, "sign-in form", `!!document.querySelector('form input[name=username]')`, 20*time.Second)
	b.shoot(t, filepath.Join(out, "sign-in-mobile.png"))

	b.viewport(t, 1280, 800, 1, false)
	b.signIn(t, srv.URL, "alice", alicePass)
	conv := b.newChat(t)
	b.send(t, "What can you show me? Use **bold**, _italics_, `inline code` and a [link](https://openclaw.ai). [think]")
	b.wait(t, "first reply", `document.querySelectorAll('.msg.assistant').length === 1 && !document.querySelector('.msg.streaming')`, 60*time.Second)
	b.send(t, "List the files in the workspace [tool]")
	b.wait(t, "tool reply", `!!document.querySelector('.tool') && !document.querySelector('.msg.streaming') && !document.querySelector('.tool.running')`, 60*time.Second)

	// The scripted model echoes on one line, so the code block is an assistant note appended to
	// the same Gateway session (chat.inject, an admin method clawchat itself never uses).
	alice := signIn(t, srv.URL, "alice", alicePass)
	admin := startClient(t, g.URL, g.Token, func(c *gateway.Config) {
		c.Scopes = []string{gateway.ScopeRead, gateway.ScopeWrite, "operator.admin"}
	})
	admin.waitState(60*time.Second, gateway.StateConnected)
	note := "Here is a small Go program that reads a file:\n\n```go\npackage main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tb, err := os.ReadFile(\"notes.txt\")\n\tif err != nil {\n\t\tfmt.Fprintln(os.Stderr, err)\n\t\tos.Exit(1)\n\t}\n\tfmt.Printf(\"%d bytes\\n\", len(b))\n}\n```\n\n1. Save it as `main.go`\n2. Run `go run .`"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.Request(ctx, "chat.inject", map[string]any{"sessionKey": bridge.SessionKey("main", userID(t, alice), conv), "message": note}, nil); err != nil {
		t.Fatalf("chat.inject: %v", err)
	}
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "history with the code block", `!!document.querySelector('.msg.assistant .codeblock') && document.querySelectorAll('.msg.assistant').length >= 3`, 30*time.Second)
	b.wait(t, "the conversation in the sidebar", fmt.Sprintf(`document.querySelectorAll('.sidebar a[href="#/c/%s"]').length === 1`, conv), 20*time.Second)
	// CDP's Enter also types a "\n" char event that the page's keydown cannot cancel: clear it.
	b.eval(t, `document.querySelector('#composer-input').select(), true`)
	b.do(t, "clear the composer", chromedp.KeyEvent("\b"))
	b.wait(t, "empty composer", `document.querySelector('#composer-input').value === ''`, 5*time.Second)
	// Open the reasoning and the tool card so that they show in the pictures.
	b.eval(t, `document.querySelectorAll('details.reasoning, details.tool').forEach(d => d.open = true), true`)

	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.viewport(t, 1280, 800, 1, false)
		b.scrollTranscript(t, "top")
		b.shoot(t, filepath.Join(out, "chat-desktop-"+theme+".png"))
		b.viewport(t, 390, 844, 2, true)
		b.scrollTranscript(t, "bottom")
		b.shoot(t, filepath.Join(out, "chat-mobile-"+theme+".png"))
	}

	// The phone states of issue 11: a table, the action menu, the landing view, date groups, settings.
	table := "Prices this week:\n\n| Item | Monday | Tuesday | Wednesday | Change |\n|---|---|---|---|---|\n" +
		"| Coffee beans (1 kg) | 18.40 | 18.90 | 19.10 | +3.8% |\n| Oat milk (1 l) | 2.10 | 2.10 | 1.95 | −7.1% |\n| Sourdough bread | 4.50 | 4.60 | 4.60 | +2.2% |"
	if err := admin.Request(ctx, "chat.inject", map[string]any{"sessionKey": bridge.SessionKey("main", userID(t, alice), conv), "message": table}, nil); err != nil {
		t.Fatalf("chat.inject: %v", err)
	}
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "history with the table", `!!document.querySelector('.msg.assistant .tablewrap')`, 30*time.Second)
	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.viewport(t, 390, 844, 2, true)
		b.scrollTranscript(t, "bottom")
		b.shoot(t, filepath.Join(out, "table-mobile-"+theme+".png"))
		b.longPress(t, `[...document.querySelectorAll('.msg.assistant')].at(-1)`)
		b.shoot(t, filepath.Join(out, "actions-mobile-"+theme+".png"))
		b.do(t, "close the menu", chromedp.KeyEvent("\x1b"))
		b.wait(t, "menu closed", `!document.querySelector('.sheet')`, 5*time.Second)
	}
	// Pinned: the first conversation sits in the Pinned group of the list.
	if code := alice.do("PATCH", "/api/sessions/"+conv, map[string]bool{"pinned": true}, nil); code != 200 {
		t.Fatalf("pin: %d", code)
	}
	b.do(t, "landing", chromedp.Navigate(srv.URL+"/#/"))
	b.wait(t, "landing composer", `!!document.querySelector('.welcome') && !!document.querySelector('#composer-input')`, 20*time.Second)
	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.shoot(t, filepath.Join(out, "landing-mobile-"+theme+".png"))
		b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
		b.wait(t, "list open", `getComputedStyle(document.querySelector('.sidebar')).transform === 'none'`, 5*time.Second)
		b.shoot(t, filepath.Join(out, "sidebar-mobile-"+theme+".png"))
		// The row menu (one ⋯ per row) of the pinned conversation.
		b.eval(t, `document.querySelector('.sidebar .conv button.row-more').click(), true`)
		b.wait(t, "row menu", `!!document.querySelector('.row-menu')`, 5*time.Second)
		b.shoot(t, filepath.Join(out, "row-menu-mobile-"+theme+".png"))
		b.do(t, "close the row menu", chromedp.KeyEvent("\x1b"))
		b.wait(t, "row menu closed", `!document.querySelector('.row-menu')`, 5*time.Second)
		b.do(t, "open settings", chromedp.Click(chromedp.CSS(`.settings button[aria-label="Settings"]`)))
		b.wait(t, "settings panel", `!!document.querySelector('#settings-panel')`, 5*time.Second)
		b.shoot(t, filepath.Join(out, "settings-mobile-"+theme+".png"))
		b.do(t, "close settings", chromedp.KeyEvent("\x1b"))
		b.eval(t, `document.querySelector('.scrim').click(), true`)
		b.wait(t, "list closed", `!document.querySelector('.sidebar.open')`, 5*time.Second)
	}

	// Attachments after a reload (a photo as a thumbnail, a file as a card), the model and
	// thinking pickers with the header's agent and permission mode, and message search.
	b.colorScheme(t, "light")
	b.viewport(t, 390, 844, 2, true)
	b.eval(t, `(async () => {
		const c = document.createElement('canvas'); c.width = 640; c.height = 480;
		const g = c.getContext('2d');
		const sky = g.createLinearGradient(0, 0, 0, 480); sky.addColorStop(0, '#7fb3ff'); sky.addColorStop(1, '#ffd9a0');
		g.fillStyle = sky; g.fillRect(0, 0, 640, 480);
		g.fillStyle = '#f6c453'; g.beginPath(); g.arc(470, 150, 60, 0, 7); g.fill();
		g.fillStyle = '#3d7a4a'; g.beginPath(); g.moveTo(0, 480); g.lineTo(0, 330); g.lineTo(180, 220); g.lineTo(360, 340); g.lineTo(520, 260); g.lineTo(640, 320); g.lineTo(640, 480); g.fill();
		const png = await new Promise((r) => c.toBlob(r, 'image/png'));
		const dt = new DataTransfer();
		dt.items.add(new File([png], 'hike.png', {type: 'image/png'}));
		dt.items.add(new File(['Day 1: 14 km, 820 m up\nDay 2: 11 km, 600 m up\n'], 'route-notes.txt', {type: 'text/plain'}));
		const input = document.querySelector('.composer input[type=file]:not(.camera-input)');
		input.files = dt.files;
		input.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`)
	b.wait(t, "two attachments in the composer", `document.querySelectorAll('.att-list li').length === 2`, 10*time.Second)
	b.do(t, "type", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Where was this photo taken? My notes are attached."))
	b.do(t, "send", chromedp.Click(chromedp.CSS(".composer .send")))
	b.wait(t, "the new conversation's reply", `location.hash.startsWith('#/c/') && document.querySelectorAll('.msg.assistant').length === 1 && !document.querySelector('.msg.streaming') && !document.querySelector('.composer .stop')`, 60*time.Second)
	b.do(t, "reload", chromedp.Reload())
	b.wait(t, "the photo after the reload", `(() => { const i = document.querySelector('.msg.user .att-thumb img'); return !!i && i.complete && i.naturalWidth === 640 && !!document.querySelector('.msg.user .att-card') && !!document.querySelector('.topbar .conv-info'); })()`, 30*time.Second)
	b.eval(t, `document.querySelector('#composer-input').blur(), true`)
	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.viewport(t, 390, 844, 2, true)
		b.scrollTranscript(t, "top")
		b.shoot(t, filepath.Join(out, "attachments-mobile-"+theme+".png"))
		b.do(t, "open the pickers", chromedp.Click(chromedp.CSS(".topbar .conv-info")))
		b.wait(t, "pickers", `!!document.querySelector('.conv-settings')`, 10*time.Second)
		b.shoot(t, filepath.Join(out, "pickers-mobile-"+theme+".png"))
		b.do(t, "close the pickers", chromedp.KeyEvent("\x1b"))
		b.wait(t, "pickers closed", `!document.querySelector('.conv-settings')`, 5*time.Second)
	}
	b.colorScheme(t, "light")
	b.viewport(t, 1280, 800, 1, false)
	b.scrollTranscript(t, "top")
	b.shoot(t, filepath.Join(out, "attachments-desktop-light.png"))
	b.viewport(t, 390, 844, 2, true)
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.wait(t, "list open", `getComputedStyle(document.querySelector('.sidebar')).transform === 'none'`, 5*time.Second)
	b.do(t, "search", chromedp.SendKeys(chromedp.CSS("#search"), "photo"))
	b.wait(t, "message hits", `document.querySelectorAll('.search-hit a').length >= 1`, 20*time.Second)
	b.eval(t, `document.querySelector('#search').blur(), true`)
	b.shoot(t, filepath.Join(out, "search-mobile-light.png"))

	// A long reply (the scripted model's [doc=N]: headings, lists, code blocks and tables),
	// scrolled to its middle, at phone and desktop sizes.
	b.eval(t, `(() => { const s = document.querySelector('#search'); s.value = ''; s.dispatchEvent(new Event('input', {bubbles: true})); document.querySelector('.scrim').click(); return true; })()`)
	b.do(t, "landing", chromedp.Navigate(srv.URL+"/#/"))
	b.wait(t, "landing composer", `!!document.querySelector('.welcome') && document.activeElement?.id === 'composer-input'`, 20*time.Second)
	b.do(t, "type", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Explain it at length [doc=500]"))
	b.do(t, "send", chromedp.Click(chromedp.CSS(".composer .send")))
	b.wait(t, "the long reply", `location.hash.startsWith('#/c/') && !!document.querySelector('.msg.assistant .md table') && !document.querySelector('.msg.streaming') && !document.querySelector('.composer .stop')`, 60*time.Second)
	middle := `(() => { const t = document.querySelectorAll('.msg.assistant .md h2, .msg.assistant .md h3')[1]; t?.scrollIntoView({block: 'start'}); return true; })()`
	for _, theme := range []string{"light", "dark"} {
		b.colorScheme(t, theme)
		b.viewport(t, 390, 844, 2, true)
		b.eval(t, middle)
		b.shoot(t, filepath.Join(out, "long-reply-mobile-"+theme+".png"))
		b.viewport(t, 1280, 800, 1, false)
		b.eval(t, middle)
		b.shoot(t, filepath.Join(out, "long-reply-desktop-"+theme+".png"))
	}
	b.noConsoleProblems(t)
}

func (b *browser) viewport(t testing.TB, w, h int64, scale float64, mobile bool) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(scale)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.do(t, "viewport", chromedp.EmulateViewport(w, h, opts...))
}

// colorScheme emulates prefers-color-scheme (the app follows the system theme by default).
func (b *browser) colorScheme(t testing.TB, scheme string) {
	t.Helper()
	b.media = map[string]string{"prefers-color-scheme": scheme, "prefers-reduced-motion": b.media["prefers-reduced-motion"]}
	b.applyMedia(t)
}

// reducedMotion emulates prefers-reduced-motion: reduce.
func (b *browser) reducedMotion(t testing.TB) {
	t.Helper()
	b.media = map[string]string{"prefers-color-scheme": b.media["prefers-color-scheme"], "prefers-reduced-motion": "reduce"}
	b.applyMedia(t)
}

func (b *browser) applyMedia(t testing.TB) {
	t.Helper()
	var feats []*emulation.MediaFeature
	for k, v := range b.media {
		feats = append(feats, &emulation.MediaFeature{Name: k, Value: v})
	}
	b.do(t, "emulate media", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: feats})
		return err
	}))
}

func (b *browser) scrollTranscript(t testing.TB, where string) {
	t.Helper()
	b.eval(t, fmt.Sprintf(`(() => { const el = document.querySelector('.transcript'); if (el) el.scrollTop = %s; return true; })()`,
		map[string]string{"top": "0", "bottom": "el.scrollHeight"}[where]))
}

// shoot waits two frames for layout and paint, then writes a viewport PNG to path (optimised
// with optipng when it is installed).
func (b *browser) shoot(t testing.TB, path string) {
	t.Helper()
	b.eval(t, `document.activeElement?.blur(), true`) // no focus ring in the pictures
	b.wait(t, "two frames", `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, 10*time.Second)
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if opt, err := exec.LookPath("optipng"); err == nil {
		if out, err := exec.Command(opt, "-quiet", "-o2", "-strip", "all", path).CombinedOutput(); err != nil {
			t.Errorf("optipng %s: %v\n%s", path, err, out)
		}
	}
	t.Logf("wrote %s (%d bytes before optimisation)", path, len(png))
}
