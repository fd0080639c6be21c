package db

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// hashKeyName is the app_secret row that keys DB.Hash.
const hashKeyName = "hash_key"

// loadHashKey reads the hash key, making it on first use.
func (d *DB) loadHashKey(ctx context.Context) error {
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var key []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM app_secret WHERE name = ?`, hashKeyName).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		key = make([]byte, 32)
		rand.Read(key)
		if _, err := tx.ExecContext(ctx, `INSERT INTO app_secret (name, value) VALUES (?, ?)`, hashKeyName, key); err != nil {
			return fmt.Errorf("store hash key: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read hash key: %w", err)
	}
	if len(key) < 16 {
		return fmt.Errorf("app_secret %s is too short", hashKeyName)
	}
	d.hashKey = key
	return tx.Commit()
}

// Hash is the form in which a visitor's address or phone number is kept
// when only equality matters (rate limits): HMAC-SHA256 under this
// database's own key, so the value cannot be recovered by hashing every
// phone number. kind separates uses ("ip", "to"), so equal values of
// different kinds do not match.
func (d *DB) Hash(kind, value string) string {
	m := hmac.New(sha256.New, d.hashKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
