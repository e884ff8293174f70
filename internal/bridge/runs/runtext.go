package runs

// setText replaces the run text (a resync, a replace, a reconcile). The caller holds s.mu.
func (r *run) setText(s string) {
	r.textRev++
	r.text = s
	r.textBuf.Reset() // never reused: strings handed out still point into it
}

// appendText appends inc to the run text in amortised O(1): r.text is a view of r.textBuf, which
// only ever grows (strings.Builder never rewrites bytes it has handed out, so earlier texts and
// published increments stay valid). If r.text was set elsewhere the buffer starts again from it.
// The caller holds s.mu.
func (r *run) appendText(inc string) {
	if inc == "" {
		return
	}
	r.textRev++
	// Equal strings that share their bytes compare in O(1); r.text is normally the buffer's view.
	if r.textBuf.Len() != len(r.text) || r.textBuf.String() != r.text {
		r.textBuf.Reset()
		r.textBuf.Grow(2 * (len(r.text) + len(inc)))
		r.textBuf.WriteString(r.text)
	}
	r.textBuf.WriteString(inc)
	r.text = r.textBuf.String()
}
