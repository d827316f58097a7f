// A stand-in for powershell.exe under Wine (whose own is a stub that does nothing and returns 0),
// for the install strings' Expand-Archive branch (Windows Server 2016 has no tar.exe).
//
// It appends its argv (JSON, one line per run) to C:\vmapp-powershell.jsonl, accepts only the exact
// command line the templates write, reads the two single-quoted literals of the script by
// PowerShell's rules (a doubled quote, typographic ones included, is one quote; the destination's
// wildcard escapes undone, as Resolve-Path -Path would), refuses an archive not named .zip as
// Expand-Archive 1.0.1.0 does, and extracts the zip. Any failure exits 1, as -Command does on a
// terminating error.
package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

const record = `C:\vmapp-powershell.jsonl`

var flags = []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command"}

const quotes = "'\u2018\u2019\u201a\u201b"

var literal = `'(?:[^` + quotes + `]|[` + quotes + `]{2})*'`
var script = regexp.MustCompile(`^(?:<#%#>)?\$ProgressPreference='SilentlyContinue';Expand-Archive -LiteralPath (` +
	literal + `) -DestinationPath (` + literal + `) -Force -ErrorAction Stop$`)
var doubled = regexp.MustCompile(`[` + quotes + `]([` + quotes + `])`)
var escaped = regexp.MustCompile("`(.)")

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "powershell stand-in:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	line, _ := json.Marshal(args)
	f, err := os.OpenFile(record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	f.Close()
	if len(args) != len(flags)+1 {
		return fmt.Errorf("expected %v SCRIPT, got %q", flags, args)
	}
	for i, flag := range flags {
		if args[i] != flag {
			return fmt.Errorf("argument %d: expected %s, got %q", i, flag, args[i])
		}
	}
	m := script.FindStringSubmatch(args[len(flags)])
	if m == nil {
		return fmt.Errorf("not the Expand-Archive script: %q", args[len(flags)])
	}
	archive, destination := unquote(m[1]), escaped.ReplaceAllString(unquote(m[2]), "$1")
	if !strings.EqualFold(filepath.Ext(archive), ".zip") {
		return fmt.Errorf("%s is not a supported archive file format. .zip is the only supported archive file format", archive)
	}
	return unzip(archive, destination)
}

func unquote(s string) string {
	return doubled.ReplaceAllString(s[1:len(s)-1], "$1")
}

func unzip(archive, dir string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if strings.HasSuffix(f.Name, "/") {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		r, err := f.Open()
		if err != nil {
			return err
		}
		out, err := os.Create(path)
		if err != nil {
			r.Close()
			return err
		}
		_, err = io.Copy(out, r)
		r.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
