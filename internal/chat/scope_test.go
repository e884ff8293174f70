package chat

import (
	"reflect"
	"strings"
	"testing"
)

// TestEventConversationCoversCatalog: every event of the catalog that names a conversation (a
// "conversation" field, or the "id" of a conversation.* event's view) is attributed to it, from
// the typed payload and from the JSON alone (an event relayed from another instance), so that a
// connection limited to some conversations (an embedded session) never lets one through
// unattributed. A new event type is covered without editing this test.
func TestEventConversationCoversCatalog(t *testing.T) {
	for _, p := range Catalog() {
		v := reflect.New(reflect.TypeOf(p)).Elem()
		named := setConversation(v, strings.HasPrefix(p.EventName(), "conversation.") && p.EventName() != "conversation.members")
		ev := typed(v.Interface().(Payload))
		want := ""
		if named {
			want = "c-1"
		}
		if got, _ := EventConversation(ev); got != want {
			t.Errorf("%s: typed payload gives %q, want %q", p.EventName(), got, want)
		}
		if got, _ := EventConversation(Event{Name: ev.Name, Payload: ev.Payload}); got != want {
			t.Errorf("%s: JSON payload gives %q, want %q", p.EventName(), got, want)
		}
	}
	hc := &HostContext{App: "compose", ID: "doc:a"}
	for _, ev := range []Event{
		ConversationCreated{ConversationView{ID: "c-1", Context: hc}}.Event(),
		ConversationUpdated{ConversationView{ID: "c-1", Context: hc}}.Event(),
	} {
		for _, e := range []Event{ev, {Name: ev.Name, Payload: ev.Payload}} {
			if id, got := EventConversation(e); id != "c-1" || got == nil || *got != *hc {
				t.Errorf("%s: %q %+v, want c-1 in %+v", ev.Name, id, got, hc)
			}
		}
	}
	if id, _ := EventConversation(Event{Name: "typing", Payload: []byte(`not json`)}); id != "" {
		t.Errorf("bad JSON gives %q", id)
	}
}

// setConversation sets every string field of v tagged "conversation" (and "id" when byID) to
// c-1, in embedded structs too, and reports whether it set one.
func setConversation(v reflect.Value, byID bool) bool {
	set := false
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case sf.Anonymous && f.Kind() == reflect.Struct:
			set = setConversation(f, byID) || set
		case f.Kind() == reflect.String && (tag == "conversation" || (byID && tag == "id")):
			f.SetString("c-1")
			set = true
		}
	}
	return set
}
