package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"golang.org/x/term"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// LocalUser is one entry of CLAWCHAT_LOCAL_USERS. Password is a secret: LocalUser implements
// slog.LogValuer and fmt.Stringer without it.
type LocalUser struct {
	Username string
	Password string
}

// LogValue hides the password.
func (u LocalUser) LogValue() slog.Value { return slog.StringValue(u.Username) }

// String hides the password.
func (u LocalUser) String() string { return u.Username }

// GoString hides the password from %#v.
func (u LocalUser) GoString() string {
	return "auth.LocalUser{Username:" + fmt.Sprintf("%q", u.Username) + "}"
}

// ParseLocalUsers parses CLAWCHAT_LOCAL_USERS. The environment form is "user:pass,user2:pass2"
// (a password cannot contain ","). The file form (CLAWCHAT_LOCAL_USERS_FILE) has one "user:pass"
// per line, where the password may contain ":" and ","; blank lines and lines starting with "#"
// are skipped. Both split at the first ":" only. Errors name the entry by position and username,
// never the password.
func ParseLocalUsers(s string, fileForm bool) ([]LocalUser, error) {
	var items []string
	if fileForm {
		items = strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	} else {
		items = strings.Split(s, ",")
	}
	var out []LocalUser
	seen := map[string]bool{}
	for i, it := range items {
		if fileForm {
			it = strings.TrimRight(it, "\r")
			if strings.TrimSpace(it) == "" || strings.HasPrefix(strings.TrimSpace(it), "#") {
				continue
			}
		} else if strings.TrimSpace(it) == "" {
			continue
		}
		name, pass, ok := strings.Cut(it, ":")
		name = NormalizeUsername(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("auth: local users entry %d: expected user:password", i+1)
		case !ValidUsername(name):
			return nil, fmt.Errorf("auth: local users entry %d: invalid username %q (1-64 of a-z 0-9 . _ @ + -)", i+1, truncate(name, 64))
		case pass == "":
			return nil, fmt.Errorf("auth: local users entry %d (%s): empty password", i+1, name)
		case len(pass) > MaxPasswordBytes:
			return nil, fmt.Errorf("auth: local users entry %d (%s): password longer than %d bytes", i+1, name, MaxPasswordBytes)
		case seen[name]:
			return nil, fmt.Errorf("auth: local users entry %d: %s listed twice", i+1, name)
		}
		seen[name] = true
		out = append(out, LocalUser{Username: name, Password: pass})
	}
	return out, nil
}

// ParseOwners parses CLAWCHAT_OWNERS: comma/space-separated usernames, folded.
func ParseOwners(s string) []string {
	var out []string
	for _, n := range SplitList(s) {
		out = append(out, NormalizeUsername(n))
	}
	return out
}

// Bootstrap creates or updates accounts from the environment. Each user in users gets an account
// with that password; an existing account whose password differs gets the new one and loses its
// sessions. Roles: when owners is non-empty it decides for every listed user (owners are owners,
// the others members) and promotes existing accounts it names; when it is empty, the first user
// becomes owner if the store had no accounts, the rest members, and existing roles are kept.
// Every change is audited.
func Bootstrap(ctx context.Context, st Store, users []LocalUser, owners []string, log *slog.Logger) error {
	return bootstrap(ctx, st, nil, users, owners, log)
}

func bootstrap(ctx context.Context, st Store, h *Hasher, users []LocalUser, owners []string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if h == nil {
		var err error
		if h, err = NewHasher(nil, 0); err != nil {
			return err
		}
	}
	n, err := st.CountAccounts(ctx)
	if err != nil {
		return fmt.Errorf("auth: bootstrap: %w", err)
	}
	empty := n == 0
	audit := func(e chat.AuditEntry) {
		e.Detail = strings.TrimSpace("env " + e.Detail)
		auditTo(ctx, st, log, time.Now, e)
	}
	for i, u := range users {
		role := chat.RoleMember
		switch {
		case len(owners) > 0 && slices.Contains(owners, u.Username):
			role = chat.RoleOwner
		case len(owners) == 0 && empty && i == 0:
			role = chat.RoleOwner
		}
		acc, err := st.AccountByUsername(ctx, u.Username)
		if errors.Is(err, chat.ErrNotFound) {
			hash, err := h.Hash(ctx, u.Password)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			acc = chat.Account{ID: NewAccountID(), Username: u.Username, Role: role, PasswordHash: hash,
				CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
			if err := st.CreateAccount(ctx, acc); err != nil {
				return fmt.Errorf("auth: bootstrap %s: %w", u.Username, err)
			}
			audit(chat.AuditEntry{Action: "user.create", Target: acc.Username, Detail: "role=" + string(role)})
			continue
		}
		if err != nil {
			return fmt.Errorf("auth: bootstrap %s: %w", u.Username, err)
		}
		if acc.OIDCSubject != "" {
			// The name was taken by a single-sign-on account (an IdP user may pick their
			// username): never give it a password nor the owner role.
			return fmt.Errorf("auth: bootstrap %s: the username belongs to a single-sign-on account; rename the local user", u.Username)
		}
		changed, revoke := false, false
		if ok, _, err := h.Verify(ctx, u.Password, acc.PasswordHash); err != nil {
			return err
		} else if !ok {
			if acc.PasswordHash, err = h.Hash(ctx, u.Password); err != nil {
				return err
			}
			acc.PasswordChangedAt = time.Now().UTC()
			changed, revoke = true, true
			audit(chat.AuditEntry{Action: "user.password", Actor: "", Target: acc.Username})
		}
		if len(owners) > 0 && acc.Role != role {
			audit(chat.AuditEntry{Action: "role.change", Target: acc.Username, Detail: fmt.Sprintf("%s -> %s", acc.Role, role)})
			acc.Role, changed = role, true
		}
		if changed {
			acc.UpdatedAt = time.Now().UTC()
			if err := st.UpdateAccount(ctx, acc); err != nil {
				return fmt.Errorf("auth: bootstrap %s: %w", u.Username, err)
			}
		}
		if revoke {
			if err := st.DeleteUserSessions(ctx, acc.ID); err != nil {
				return fmt.Errorf("auth: bootstrap %s: revoke sessions: %w", u.Username, err)
			}
		}
	}
	for _, o := range owners {
		if slices.ContainsFunc(users, func(u LocalUser) bool { return u.Username == o }) {
			continue
		}
		acc, err := st.AccountByUsername(ctx, o)
		if err != nil || acc.Role == chat.RoleOwner {
			continue
		}
		if acc.OIDCSubject != "" {
			// CLAWCHAT_OWNERS names local accounts; an IdP user may have picked this username.
			log.Warn("auth: CLAWCHAT_OWNERS names a single-sign-on account; not made owner (use CLAWCHAT_OIDC_OWNER_SUBJECTS)", "user", o)
			continue
		}
		audit(chat.AuditEntry{Action: "role.change", Target: acc.Username, Detail: fmt.Sprintf("%s -> owner", acc.Role)})
		acc.Role, acc.UpdatedAt = chat.RoleOwner, time.Now().UTC()
		if err := st.UpdateAccount(ctx, acc); err != nil {
			return fmt.Errorf("auth: bootstrap %s: %w", o, err)
		}
	}
	return nil
}

// FirstRun makes sure a fresh installation can be entered without a default password: when the
// store has no accounts at all it creates the owner "admin" with a random password and prints it
// once to out. It does nothing otherwise.
func FirstRun(ctx context.Context, st Store, out io.Writer) error { return firstRun(ctx, st, nil, out) }

func firstRun(ctx context.Context, st Store, h *Hasher, out io.Writer) error {
	n, err := st.CountAccounts(ctx)
	if err != nil {
		return fmt.Errorf("auth: first run: %w", err)
	}
	if n > 0 {
		return nil
	}
	if h == nil {
		if h, err = NewHasher(nil, 0); err != nil {
			return err
		}
	}
	pw := GeneratePassword()
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	acc := chat.Account{ID: NewAccountID(), Username: "admin", Role: chat.RoleOwner, PasswordHash: hash,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := st.CreateAccount(ctx, acc); err != nil {
		return fmt.Errorf("auth: first run: %w", err)
	}
	auditTo(ctx, st, slog.New(slog.DiscardHandler), time.Now, chat.AuditEntry{Action: "user.create", Target: "admin", Detail: "first run role=owner"})
	_, err = fmt.Fprintf(out, "\n"+
		"  clawchat: no accounts existed, so an owner account was created.\n"+
		"    username: admin\n"+
		"    password: %s\n"+
		"  This password is shown only once. Sign in and change it with\n"+
		"  `clawchat user passwd admin`, or set CLAWCHAT_LOCAL_USERS.\n\n", pw)
	return err
}

// UserCommand runs `clawchat user …`: add NAME [--role owner|member], passwd NAME, del NAME,
// list, role NAME ROLE. args may start with "user". Passwords come from stdin (first line; on a
// terminal a prompt is written to stderr and the input is not echoed) and never from argv;
// an empty password is an error. Changing a password or deleting a user revokes their sessions.
// Every change is audited with actor "cli".
func UserCommand(ctx context.Context, st Store, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return userCommand(ctx, st, nil, args, stdin, stdout, stderr)
}

func userCommand(ctx context.Context, st Store, h *Hasher, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "user" {
		args = args[1:]
	}
	usage := errors.New("usage: clawchat user add NAME [--role owner|member] | passwd NAME | del NAME | list | role NAME owner|member")
	if len(args) == 0 {
		return usage
	}
	log := slog.New(slog.DiscardHandler)
	audit := func(e chat.AuditEntry) { e.Actor = "cli"; auditTo(ctx, st, log, time.Now, e) }
	hasher := func() (*Hasher, error) {
		if h != nil {
			return h, nil
		}
		var err error
		h, err = NewHasher(nil, 0)
		return h, err
	}
	name := ""
	if len(args) > 1 {
		name = NormalizeUsername(args[1])
	}
	switch args[0] {
	case "list":
		accs, err := st.Accounts(ctx)
		if err != nil {
			return fmt.Errorf("user list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tID\tSIGN-IN\tSTATUS")
		for _, a := range accs {
			kind := []string{}
			if a.PasswordHash != "" {
				kind = append(kind, "password")
			}
			if a.OIDCSubject != "" {
				kind = append(kind, "oidc")
			}
			if len(kind) == 0 {
				kind = append(kind, "proxy")
			}
			status := "active"
			if a.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Username, a.Role, a.ID, strings.Join(kind, ","), status)
		}
		return tw.Flush()
	case "add":
		role := chat.RoleMember
		rest := args[2:]
		if name == "" {
			return usage
		}
		for len(rest) > 0 {
			switch {
			case rest[0] == "--role" && len(rest) > 1:
				role, rest = chat.Role(rest[1]), rest[2:]
			case strings.HasPrefix(rest[0], "--role="):
				role, rest = chat.Role(strings.TrimPrefix(rest[0], "--role=")), rest[1:]
			default:
				return fmt.Errorf("user add: unexpected argument %q (passwords are read from stdin)", rest[0])
			}
		}
		if !role.Valid() {
			return fmt.Errorf("user add: role must be owner or member")
		}
		if !ValidUsername(name) {
			return fmt.Errorf("user add: invalid username %q (1-64 of a-z 0-9 . _ @ + -)", name)
		}
		if _, err := st.AccountByUsername(ctx, name); err == nil {
			return fmt.Errorf("user add: %s already exists", name)
		}
		pw, err := readPassword(stdin, stderr, "Password for "+name+": ")
		if err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		hh, err := hasher()
		if err != nil {
			return err
		}
		hash, err := hh.Hash(ctx, pw)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		acc := chat.Account{ID: NewAccountID(), Username: name, Role: role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
		if err := st.CreateAccount(ctx, acc); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		audit(chat.AuditEntry{Action: "user.create", Target: name, Detail: "role=" + string(role)})
		fmt.Fprintf(stdout, "created %s (%s)\n", name, role)
		return nil
	case "passwd":
		if len(args) != 2 {
			return usage
		}
		acc, err := st.AccountByUsername(ctx, name)
		if err != nil {
			return fmt.Errorf("user passwd: %s: %w", name, err)
		}
		pw, err := readPassword(stdin, stderr, "New password for "+name+": ")
		if err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		hh, err := hasher()
		if err != nil {
			return err
		}
		if acc.PasswordHash, err = hh.Hash(ctx, pw); err != nil {
			return err
		}
		acc.PasswordChangedAt = time.Now().UTC()
		acc.UpdatedAt = acc.PasswordChangedAt
		if err := st.UpdateAccount(ctx, acc); err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		if err := st.DeleteUserSessions(ctx, acc.ID); err != nil {
			return fmt.Errorf("user passwd: revoke sessions: %w", err)
		}
		audit(chat.AuditEntry{Action: "user.password", Target: name, Detail: "sessions revoked"})
		fmt.Fprintf(stdout, "password changed for %s; their sessions were signed out\n", name)
		return nil
	case "del":
		if len(args) != 2 {
			return usage
		}
		acc, err := st.AccountByUsername(ctx, name)
		if err != nil {
			return fmt.Errorf("user del: %s: %w", name, err)
		}
		if err := st.DeleteUserSessions(ctx, acc.ID); err != nil {
			return fmt.Errorf("user del: revoke sessions: %w", err)
		}
		if err := st.DeleteAccount(ctx, acc.ID); err != nil {
			return fmt.Errorf("user del: %w", err)
		}
		audit(chat.AuditEntry{Action: "user.delete", Target: name})
		fmt.Fprintf(stdout, "deleted %s\n", name)
		return nil
	case "role":
		if len(args) != 3 {
			return usage
		}
		role := chat.Role(args[2])
		if !role.Valid() {
			return errors.New("user role: role must be owner or member")
		}
		acc, err := st.AccountByUsername(ctx, name)
		if err != nil {
			return fmt.Errorf("user role: %s: %w", name, err)
		}
		if acc.Role == role {
			fmt.Fprintf(stdout, "%s is already %s\n", name, role)
			return nil
		}
		old := acc.Role
		acc.Role, acc.UpdatedAt = role, time.Now().UTC()
		if err := st.UpdateAccount(ctx, acc); err != nil {
			return fmt.Errorf("user role: %w", err)
		}
		audit(chat.AuditEntry{Action: "role.change", Target: name, Detail: fmt.Sprintf("%s -> %s", old, role)})
		fmt.Fprintf(stdout, "%s is now %s\n", name, role)
		return nil
	}
	return usage
}

// readPassword reads one line from r. On a terminal it prompts on stderr and reads without echo.
func readPassword(r io.Reader, stderr io.Writer, prompt string) (string, error) {
	var line string
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		line = string(b)
	} else {
		var err error
		line, err = bufio.NewReaderSize(r, MaxPasswordBytes+2).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
	}
	pw := strings.TrimRight(line, "\r\n")
	switch {
	case pw == "":
		return "", errors.New("empty password (give it on stdin)")
	case len(pw) > MaxPasswordBytes:
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordBytes)
	case len(pw) < 8:
		return "", errors.New("password shorter than 8 characters")
	}
	return pw, nil
}
