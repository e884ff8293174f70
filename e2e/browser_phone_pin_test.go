package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Item 8 (pin): a pinned conversation moves into a Pinned group at the top of the list, stays
// pinned after a reload (stored on the server) and goes back to its date group when unpinned;
// another user cannot pin it.
func TestBrowserPhonePinConversations(t *testing.T) {
	g := sharedGateway(t)
	srv := startServer(t, g)
	alice := signIn(t, srv.URL, "alice", alicePass)
	old := "c" + fmt.Sprint(time.Now().UnixNano())
	var created map[string]any
	if code := alice.do("POST", "/api/sessions", map[string]string{"id": old, "title": "Pin me"}, &created); code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}
	b := newBrowser(t)
	b.signInPhone(t, srv.URL, "alice", alicePass)
	newer := b.startPhoneChat(t, "a newer chat", "Echo: a newer chat")
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	order := `[...document.querySelectorAll('.sidebar .convs:not(.archived) > li')].map(e => e.classList.contains('date-group') ? '#' + e.textContent : e.querySelector('.title')?.textContent).join('|')`
	b.wait(t, "no Pinned group yet", order+` === '#Today|a newer chat|Pin me'`, 10*time.Second)

	row := fmt.Sprintf(`document.querySelector('.sidebar a[href="#/c/%s"]').closest('li')`, old)
	b.rowAction(t, row, "Pin")
	b.wait(t, "pinned on top", order+` === '#Pinned|Pin me|#Today|a newer chat'`, 10*time.Second)

	// Bob cannot pin (or learn about) alice's conversation.
	bob := signIn(t, srv.URL, "bob", bobPass)
	if code := bob.do("PATCH", "/api/sessions/"+newer, map[string]bool{"pinned": true}, nil); code != 404 {
		t.Errorf("bob pinning alice's conversation: %d, want 404", code)
	}

	b.do(t, "reload", chromedp.Reload())
	b.do(t, "open the list", chromedp.Click(chromedp.CSS(".topbar .menu")))
	b.wait(t, "still pinned after a reload", order+` === '#Pinned|Pin me|#Today|a newer chat'`, 30*time.Second)
	var pinned struct {
		Sessions []struct {
			ID     string `json:"id"`
			Pinned *bool  `json:"pinned"`
		} `json:"sessions"`
	}
	alice.do("GET", "/api/sessions", nil, &pinned)
	for _, s := range pinned.Sessions {
		if s.Pinned == nil || *s.Pinned != (s.ID == old) {
			t.Errorf("GET /api/sessions: %s pinned = %v", s.ID, s.Pinned)
		}
	}
	b.rowAction(t, row, "Unpin")
	b.wait(t, "unpinned", order+` === '#Today|a newer chat|Pin me'`, 10*time.Second)
	var list struct {
		Sessions []struct {
			ID     string `json:"id"`
			Pinned bool   `json:"pinned"`
		} `json:"sessions"`
	}
	alice.do("GET", "/api/sessions", nil, &list)
	for _, s := range list.Sessions {
		if s.Pinned {
			t.Errorf("%s still pinned on the server", s.ID)
		}
	}
	b.noConsoleProblems(t)
}
