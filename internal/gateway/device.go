package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	deviceFile      = "device.json"
	deviceTokenFile = "device-token.json"
)

// deviceIdentity is the Ed25519 identity presented in connect.device. The private key
// never leaves this type; it is never logged or formatted.
type deviceIdentity struct {
	id        string // lower-hex sha256(raw public key)
	publicKey string // base64url, no padding
	priv      ed25519.PrivateKey
}

// String keeps the private key out of any %v formatting.
func (d *deviceIdentity) String() string { return "device(" + d.id + ")" }

// deviceFileData is device.json.
type deviceFileData struct {
	Version  int    `json:"version"`
	DeviceID string `json:"deviceId"`
	Seed     string `json:"seed"` // base64url of the 32-byte Ed25519 seed
}

// deviceTokenData is device-token.json.
type deviceTokenData struct {
	DeviceID    string   `json:"deviceId"`
	DeviceToken string   `json:"deviceToken"`
	Role        string   `json:"role,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	IssuedAtMs  int64    `json:"issuedAtMs,omitempty"`
}

func newIdentity(priv ed25519.PrivateKey) *deviceIdentity {
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return &deviceIdentity{
		id:        hex.EncodeToString(sum[:]),
		publicKey: base64.RawURLEncoding.EncodeToString(pub),
		priv:      priv,
	}
}

// loadOrCreateIdentity reads dir/device.json or creates it (0600) with a new key.
func loadOrCreateIdentity(dir string) (*deviceIdentity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: state dir: %w", err)
	}
	path := filepath.Join(dir, deviceFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("gateway: generate device key: %w", err)
		}
		id := newIdentity(priv)
		data, _ := json.MarshalIndent(deviceFileData{Version: 1, DeviceID: id.id, Seed: base64.RawURLEncoding.EncodeToString(priv.Seed())}, "", "  ")
		if err := writeFile0600(path, data); err != nil {
			return nil, fmt.Errorf("gateway: save device identity: %w", err)
		}
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read device identity: %w", err)
	}
	var f deviceFileData
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, errors.New("gateway: device identity file is not valid JSON")
	}
	seed, err := base64.RawURLEncoding.DecodeString(f.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("gateway: device identity file has an invalid seed")
	}
	id := newIdentity(ed25519.NewKeyFromSeed(seed))
	if f.DeviceID != "" && f.DeviceID != id.id {
		return nil, errors.New("gateway: device identity file: deviceId does not match the key")
	}
	return id, nil
}

// writeFile0600 writes data atomically with mode 0600.
func writeFile0600(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadDeviceToken returns the stored device token for deviceID, or nil.
func loadDeviceToken(dir, deviceID string) (*deviceTokenData, error) {
	b, err := os.ReadFile(filepath.Join(dir, deviceTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: read device token: %w", err)
	}
	var t deviceTokenData
	if err := json.Unmarshal(b, &t); err != nil || t.DeviceToken == "" || t.DeviceID != deviceID {
		return nil, nil // unusable: ignore, the shared secret still works
	}
	return &t, nil
}

func saveDeviceToken(dir string, t *deviceTokenData) error {
	data, _ := json.MarshalIndent(t, "", "  ")
	if err := writeFile0600(filepath.Join(dir, deviceTokenFile), data); err != nil {
		return fmt.Errorf("gateway: save device token: %w", err)
	}
	return nil
}

func removeDeviceToken(dir string) error {
	err := os.Remove(filepath.Join(dir, deviceTokenFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gateway: remove device token: %w", err)
	}
	return nil
}

// covers reports whether granted ⊇ wanted.
func covers(granted, wanted []string) bool {
	for _, w := range wanted {
		if !slices.Contains(granted, w) {
			return false
		}
	}
	return true
}

// normDeviceMeta mirrors the gateway's normalisation: trim, lower-case ASCII A-Z only.
func normDeviceMeta(s string) string {
	s = strings.TrimSpace(s)
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// SignaturePayloadV3 builds the exact string the Gateway verifies for connect.device:
//
//	v3|<deviceId>|<client.id>|<client.mode>|<role>|<scopes joined ",">|<signedAt>|<token>|<nonce>|<platform>|<deviceFamily>
//
// token is auth.token, else auth.deviceToken, else "". Exported so the fake gateway can
// verify signatures the same way the real one does.
func SignaturePayloadV3(deviceID string, p *ConnectParams, signedAt int64, nonce string) string {
	token := ""
	if p.Auth != nil {
		token = p.Auth.Token
		if token == "" {
			token = p.Auth.DeviceToken
		}
	}
	return strings.Join([]string{
		"v3", deviceID, p.Client.ID, p.Client.Mode, p.Role,
		strings.Join(p.Scopes, ","), strconv.FormatInt(signedAt, 10),
		token, nonce, normDeviceMeta(p.Client.Platform), normDeviceMeta(p.Client.DeviceFamily),
	}, "|")
}

// sign fills p.Device with a v3 proof for nonce at signedAt (ms).
func (d *deviceIdentity) sign(p *ConnectParams, nonce string, signedAt int64) {
	payload := SignaturePayloadV3(d.id, p, signedAt, nonce)
	sig := ed25519.Sign(d.priv, []byte(payload))
	p.Device = &ConnectDevice{
		ID:        d.id,
		PublicKey: d.publicKey,
		Signature: base64.RawURLEncoding.EncodeToString(sig),
		SignedAt:  signedAt,
		Nonce:     nonce,
	}
}

// VerifyDeviceSignature checks p.Device the way the Gateway does: id = hex(sha256(pub)),
// Ed25519 signature over the v3 payload with nonce. It returns a details code
// (DEVICE_AUTH_*) on failure, "" on success. For the fake gateway.
func VerifyDeviceSignature(p *ConnectParams, nonce string) string {
	d := p.Device
	if d == nil {
		return "DEVICE_IDENTITY_REQUIRED"
	}
	pub, err := base64.RawURLEncoding.DecodeString(d.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return "DEVICE_AUTH_PUBLIC_KEY_INVALID"
	}
	sum := sha256.Sum256(pub)
	if hex.EncodeToString(sum[:]) != d.ID {
		return "DEVICE_AUTH_DEVICE_ID_MISMATCH"
	}
	if d.Nonce != nonce {
		return "DEVICE_AUTH_NONCE_MISMATCH"
	}
	sig, err := base64.RawURLEncoding.DecodeString(d.Signature)
	if err != nil || !ed25519.Verify(pub, []byte(SignaturePayloadV3(d.ID, p, d.SignedAt, d.Nonce)), sig) {
		return "DEVICE_AUTH_SIGNATURE_INVALID"
	}
	return ""
}
