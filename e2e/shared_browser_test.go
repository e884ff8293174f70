package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const carolPass = "carol-correct-horse-3"

// startSharedServer is startServer with a third local account, carol.
func startSharedServer(t *testing.T) *server {
	t.Helper()
	g := sharedGateway(t)
	return startServerWith(t, g, g.URL, "CLAWCHAT_LOCAL_USERS=alice:"+alicePass+",bob:"+bobPass+",carol:"+carolPass)
}

// openConv opens conversation conv in b once its list has it (a new participant learns of it
// from conversation.created).
func (b *browser) openConv(t *testing.T, conv string) {
	t.Helper()
	b.wait(t, "the shared conversation in the list", fmt.Sprintf(`!!document.querySelector('.sidebar a[href="#/c/%s"]')`, conv), 30*time.Second)
	b.do(t, "open it", chromedp.Navigate(strings.Split(b.eval(t, `location.href`).(string), "#")[0]+"#/c/"+conv))
	b.wait(t, "its composer", `!!document.querySelector('#composer-input') || !!document.querySelector('.offline-note')`, 20*time.Second)
}

// share adds username to the open conversation with role through the share sheet.
func (b *browser) share(t *testing.T, username, role string) {
	t.Helper()
	b.do(t, "open the share sheet", chromedp.Click(chromedp.CSS(".share-btn")))
	b.wait(t, "share sheet", `!!document.querySelector('.share-sheet #share-name')`, 10*time.Second)
	b.eval(t, fmt.Sprintf(`(() => { const s = document.querySelector('#share-role'); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, role))
	b.do(t, "type the name", chromedp.SendKeys(chromedp.CSS("#share-name"), username))
	b.do(t, "add", chromedp.Click(chromedp.CSS(".share-add button[type=submit]")))
	b.wait(t, username+" in the members", fmt.Sprintf(`[...document.querySelectorAll('.members li .who')].some(e => e.textContent.startsWith(%q))`, username), 10*time.Second)
	b.do(t, "close the sheet", chromedp.Click(chromedp.CSS(`.share-sheet button[aria-label="Close"]`)))
	b.wait(t, "sheet closed", `!document.querySelector('.share-sheet')`, 5*time.Second)
}

// transcript returns the open conversation's messages as "role:sender:text" lines.
const transcriptJS = `[...document.querySelectorAll('.transcript .msg')].map(m =>
	(m.classList.contains('user') ? 'user' : 'assistant') + ':' + (m.querySelector('.sender > span:not(.avatar)')?.textContent ?? '') + ':' +
	(m.querySelector('.bubble')?.textContent ?? '').trim())`

// TestSharedThreeBrowsersLive: alice shares a conversation with bob and carol, each in their own
// browser. Everyone sees who is viewing and who types; alice's and bob's messages, sent while a
// reply runs, queue and run in order, each shown with its sender in every window, and every reply
// streams into all three windows.
func TestSharedThreeBrowsersLive(t *testing.T) {
	srv := startSharedServer(t)
	alice, bob, carol := newBrowser(t), newBrowser(t), newBrowser(t)
	alice.signIn(t, srv.URL, "alice", alicePass)
	bob.signIn(t, srv.URL, "bob", bobPass)
	carol.signIn(t, srv.URL, "carol", carolPass)

	alice.send(t, "Where shall we go? [words=2]")
	alice.wait(t, "the first reply", `document.querySelectorAll('.msg.assistant').length === 1 && !document.querySelector('.msg.streaming')`, 60*time.Second)
	conv := alice.eval(t, `decodeURIComponent(location.hash.slice(4))`).(string)
	alice.share(t, "bob", "member")
	alice.share(t, "carol", "member")
	bob.openConv(t, conv)
	carol.openConv(t, conv)

	// Presence: alice sees bob and carol viewing.
	alice.wait(t, "bob and carol viewing", `(() => { const v = document.querySelector('.viewers'); return !!v && v.getAttribute('aria-label').includes('bob') && v.getAttribute('aria-label').includes('carol'); })()`, 20*time.Second)
	// History: the message from before sharing, in bob's window.
	bob.wait(t, "history", `document.querySelectorAll('.msg.assistant').length === 1`, 20*time.Second)
	// Typing: bob types; alice and carol see it.
	bob.do(t, "bob types", chromedp.SendKeys(chromedp.CSS("#composer-input"), "Lisbon"))
	for _, w := range []*browser{alice, carol} {
		w.wait(t, "bob is typing", `document.querySelector('.typing-line')?.textContent === 'bob is typing…'`, 15*time.Second)
	}
	bob.eval(t, `(() => { const el = document.querySelector('#composer-input'); el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`)

	// Queue: alice's long turn runs; bob's message queues behind it, visible to everyone.
	alice.send(t, "alice asks [delay=40] [words=25]")
	carol.wait(t, "alice's reply streaming in carol's window", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('Echo: alice asks'))`, 60*time.Second)
	bob.send(t, "bob asks [words=3]")
	carol.wait(t, "bob's message queued in carol's window", `[...document.querySelectorAll('.msg.user')].some(m => m.textContent.includes('bob asks') && m.textContent.includes('queued'))`, 20*time.Second)
	want := []string{
		"user::Where shall we go? [words=2]", "assistant::Echo: Where shall we go? w1 w2",
		"user:alice:alice asks [delay=40] [words=25]", "assistant::" + echoOf("alice asks", 25),
		"user:bob:bob asks [words=3]", "assistant::" + echoOf("bob asks", 3),
	}
	for name, w := range map[string]*browser{"alice": alice, "bob": bob, "carol": carol} {
		w.wait(t, "both replies in "+name+"'s window", `document.querySelectorAll('.msg.assistant').length === 3 && !document.querySelector('.msg.streaming') && [...document.querySelectorAll('.msg.assistant .md')].at(-1).textContent.includes('w3')`, 90*time.Second)
		got := w.eval(t, transcriptJS).([]any)
		lines := make([]string, len(got))
		for i, l := range got {
			lines[i] = l.(string)
		}
		// Each window names the other senders, not its own user.
		exp := make([]string, len(want))
		for i, l := range want {
			exp[i] = strings.Replace(l, ":"+name+":", "::", 1)
		}
		if strings.Join(lines, "\n") != strings.Join(exp, "\n") {
			t.Errorf("%s's window:\n%s\nwant:\n%s", name, strings.Join(lines, "\n"), strings.Join(exp, "\n"))
		}
		w.noConsoleProblems(t)
	}
	// After a reload the history still names the senders (clawchat recorded them).
	carol.do(t, "reload carol's window", chromedp.Reload())
	carol.wait(t, "history after the reload", `document.querySelectorAll('.msg.assistant').length === 3 && !document.querySelector('.msg.streaming')`, 30*time.Second)
	got := carol.eval(t, transcriptJS).([]any)
	lines := make([]string, len(got))
	for i, l := range got {
		lines[i] = l.(string)
	}
	if want := strings.Join(want, "\n"); strings.Join(lines, "\n") != want {
		t.Errorf("carol's window after a reload:\n%s\nwant:\n%s", strings.Join(lines, "\n"), want)
	}
	// The agent knows who said what: each message reached the model with its own sender's line.
	var sawAlice, sawBob bool
	for _, s := range modelSaw(t, sharedGateway(t)) {
		sawAlice = sawAlice || strings.HasPrefix(s.Text, "alice asks") && strings.HasPrefix(s.Sender, "[clawchat sender] alice (")
		sawBob = sawBob || strings.HasPrefix(s.Text, "bob asks") && strings.HasPrefix(s.Sender, "[clawchat sender] bob (")
	}
	if !sawAlice || !sawBob {
		t.Errorf("sender lines at the model: alice %v, bob %v", sawAlice, sawBob)
	}
}

// TestSharedTwoBrowsersRemovalMidStream: alice invites bob with a link; bob joins in his
// browser and watches a reply stream; alice removes him mid-stream: his window stops getting the
// reply at once, loses the conversation, and his next request for it is 404.
func TestSharedTwoBrowsersRemovalMidStream(t *testing.T) {
	srv := startSharedServer(t)
	alice, bob := newBrowser(t), newBrowser(t)
	alice.signIn(t, srv.URL, "alice", alicePass)
	bob.signIn(t, srv.URL, "bob", bobPass)
	conv := alice.newChat(t)

	// The invitation link, created in alice's share sheet (the field shows it).
	alice.do(t, "open the share sheet", chromedp.Click(chromedp.CSS(".share-btn")))
	alice.do(t, "create a link", chromedp.Click(chromedp.CSS(".share-link button")))
	alice.wait(t, "the link", `!!document.querySelector('.link-field')?.value`, 10*time.Second)
	link := alice.eval(t, `document.querySelector('.link-field').value`).(string)
	alice.do(t, "close the sheet", chromedp.Click(chromedp.CSS(`.share-sheet button[aria-label="Close"]`)))
	if !strings.Contains(link, "/#join=") {
		t.Fatalf("link %q", link)
	}
	bob.do(t, "open the link", chromedp.Navigate(link))
	bob.wait(t, "joined and opened", fmt.Sprintf(`location.hash === '#/c/%s' && !!document.querySelector('#composer-input')`, conv), 30*time.Second)
	// The link is single-use: opening it again says so.
	bob.do(t, "open the link again", chromedp.Navigate(srv.URL+"/#/"))
	bob.wait(t, "landing", `!!document.querySelector('.welcome')`, 20*time.Second)
	bob.do(t, "open the used link", chromedp.Navigate(link))
	bob.wait(t, "the used-link message", `document.querySelector('.toast')?.textContent.includes('not valid any more')`, 20*time.Second)
	bob.do(t, "back to the conversation", chromedp.Navigate(srv.URL+"/#/c/"+conv))
	bob.wait(t, "conversation open", `!!document.querySelector('#composer-input')`, 20*time.Second)

	alice.send(t, "a long answer please [delay=60] [words=60]")
	bob.wait(t, "the reply streaming in bob's window", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('w3 '))`, 60*time.Second)
	alice.do(t, "open the share sheet", chromedp.Click(chromedp.CSS(".share-btn")))
	alice.wait(t, "bob listed", `!!document.querySelector('.members button[aria-label="Remove bob"]')`, 10*time.Second)
	alice.do(t, "remove bob", chromedp.Click(chromedp.CSS(`.members button[aria-label="Remove bob"]`)))
	removedAt := time.Now()
	// Bob's window drops the conversation (resync after his stream was closed).
	bob.wait(t, "the conversation gone from bob's list", fmt.Sprintf(`!document.querySelector('.sidebar a[href="#/c/%s"]')`, conv), 15*time.Second)
	if d := time.Since(removedAt); d > 10*time.Second {
		t.Errorf("bob lost the conversation after %v", d)
	}
	// Alice's reply goes on to the end; bob's window never gets the end of it.
	alice.wait(t, "alice's complete reply", `[...document.querySelectorAll('.msg.assistant .md')].some(e => e.textContent.includes('w60'))`, 90*time.Second)
	if got := bob.eval(t, `document.body.innerText.includes('w60')`).(bool); got {
		t.Error("bob's window got the end of the reply after his removal")
	}
	bob.wait(t, "404 for bob's next request", fmt.Sprintf(`fetch('/api/sessions/%s/history').then(r => r.status === 404)`, conv), 10*time.Second)
	bob.noConsoleProblems(t)
}
