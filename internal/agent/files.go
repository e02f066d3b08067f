package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Suffixes of the files the agent keeps beside a drop-in. Neither ends in ".conf" or ".toml", so the
// kubelet and containerd, which read only those, never load them.
const (
	// backupSuffix holds the last drop-in known to be healthy, to restore if the new one fails.
	backupSuffix = ".innkeeper-backup"
	// absentSuffix marks that there was no drop-in before: restoring means removing it.
	absentSuffix = ".innkeeper-absent"
	// tempPrefix starts the temporary name a drop-in is written under before its rename.
	tempPrefix = ".innkeeper-tmp-"
)

// readFile returns a file's content, or nil and false if it does not exist.
func readFile(path string) ([]byte, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// writeFileAtomic replaces path with data so that a reader, or a crash at any point, sees either the
// old content or the new, never a part: write a temporary file in the same directory, fsync it,
// rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create a temporary file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp.Name(), path, err)
	}
	return syncDir(dir)
}

// removeFile removes path if it exists and makes the removal durable.
func removeFile(path string) error {
	err := os.Remove(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// removeTempFiles removes temporary files an interrupted write left in dir.
func removeTempFiles(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove leftover %s: %w", m, err)
		}
	}
	return nil
}

// saveBackup records the drop-in's current state, which is known to be healthy, so that restore
// can bring it back: a copy of its content, or a marker that there was none.
func saveBackup(path string) error {
	data, exists, err := readFile(path)
	if err != nil {
		return fmt.Errorf("read %s to back it up: %w", path, err)
	}
	if !exists {
		// Remove the old backup first: restoreBackup prefers a backup to the marker.
		if err := removeFile(path + backupSuffix); err != nil {
			return err
		}
		return writeFileAtomic(path+absentSuffix, nil, 0o600)
	}
	if err := writeFileAtomic(path+backupSuffix, data, 0o600); err != nil {
		return err
	}
	return removeFile(path + absentSuffix)
}

// hasBackup reports whether saveBackup has recorded a state to restore.
func hasBackup(path string) bool {
	for _, p := range []string{path + backupSuffix, path + absentSuffix} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// restoreBackup puts back the state saveBackup recorded: the old content byte for byte, or no file.
func restoreBackup(path string) error {
	data, exists, err := readFile(path + backupSuffix)
	if err != nil {
		return fmt.Errorf("read the backup of %s: %w", path, err)
	}
	if exists {
		return writeFileAtomic(path, data, 0o644)
	}
	if _, err := os.Stat(path + absentSuffix); err == nil {
		return removeFile(path)
	}
	return fmt.Errorf("no backup of %s to restore", path)
}

// hasContent reports whether path holds exactly data, or does not exist when data is nil.
func hasContent(path string, data []byte) (bool, error) {
	current, exists, err := readFile(path)
	if err != nil {
		return false, err
	}
	if data == nil {
		return !exists, nil
	}
	return exists && bytes.Equal(current, data), nil
}

// writeHostFile is putFile; tests replace it to fail a write.
var writeHostFile = putFile

// putFile writes data to path atomically, or removes path when data is nil.
func putFile(path string, data []byte) error {
	if data == nil {
		return removeFile(path)
	}
	return writeFileAtomic(path, data, 0o644)
}

// backupHolds reports whether the backup of path records exactly data (nil: no file).
func backupHolds(path string, data []byte) bool {
	backup, exists, err := readFile(path + backupSuffix)
	if err != nil {
		return false
	}
	if exists {
		return data != nil && bytes.Equal(backup, data)
	}
	absent, _ := fileExists(path + absentSuffix)
	return absent && data == nil
}

// dropBackup removes what saveBackup recorded for path.
func dropBackup(path string) error {
	if err := removeFile(path + backupSuffix); err != nil {
		return err
	}
	return removeFile(path + absentSuffix)
}

// fileExists reports whether path exists.
func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

// removeDirIfEmpty removes dir if nothing is left in it; otherwise, or if it cannot, it leaves it.
func removeDirIfEmpty(dir string) {
	if err := os.Remove(dir); err == nil {
		_ = syncDir(filepath.Dir(dir))
	}
}
