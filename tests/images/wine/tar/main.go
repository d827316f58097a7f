// A stand-in for Windows 10's tar.exe (bsdtar) under Wine, which ships none.
// It supports what the zip install string uses: tar -x[v]f ARCHIVE [-C DIR],
// for ZIP and plain tar archives, and fails like bsdtar on a missing archive,
// a corrupt one, or a missing -C directory.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tar:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var archive, dir string
	extract := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-C":
			i++
			if i >= len(args) {
				return fmt.Errorf("option -C requires an argument")
			}
			dir = args[i]
		case arg == "-f":
			i++
			if i >= len(args) {
				return fmt.Errorf("option -f requires an argument")
			}
			archive = args[i]
		case strings.HasPrefix(arg, "-") || (i == 0 && !strings.Contains(arg, ".")):
			flags := strings.TrimPrefix(arg, "-")
			for _, c := range flags {
				switch c {
				case 'x':
					extract = true
				case 'v', 'z', 'p':
				case 'f':
					i++
					if i >= len(args) {
						return fmt.Errorf("option -f requires an argument")
					}
					archive = args[i]
				default:
					return fmt.Errorf("unsupported option %q in this stand-in", c)
				}
			}
		default:
			return fmt.Errorf("unexpected argument %q", arg)
		}
	}
	if !extract || archive == "" {
		return fmt.Errorf("usage: tar -xf ARCHIVE [-C DIR]")
	}
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil || !info.IsDir() {
			return fmt.Errorf("could not chdir to '%s'", dir)
		}
	} else {
		dir = "."
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		return fmt.Errorf("error opening archive: %v", err)
	}
	if bytes.HasPrefix(data, []byte("PK")) {
		return unzip(data, dir)
	}
	return untar(data, dir)
}

func target(dir, name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("refusing unsafe path %q", name)
	}
	return filepath.Join(dir, clean), nil
}

func write(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func unzip(data []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("damaged archive: %v", err)
	}
	for _, f := range zr.File {
		path, err := target(dir, f.Name)
		if err != nil {
			return err
		}
		if strings.HasSuffix(f.Name, "/") {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		err = write(path, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %v", f.Name, err)
		}
	}
	return nil
}

func untar(data []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	count := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("damaged archive: %v", err)
		}
		count++
		path, err := target(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := write(path, tr); err != nil {
				return fmt.Errorf("%s: %v", h.Name, err)
			}
		}
	}
	if count == 0 {
		return fmt.Errorf("unrecognized archive format")
	}
	return nil
}
