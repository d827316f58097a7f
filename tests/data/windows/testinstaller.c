/*
 * testinstaller.exe: a small EXE installer for the tests, with NSIS-like switches.
 *
 *   testinstaller.exe /S [/D=DIR] [/NAME=KEY] [/EXIT=N] [/SLEEP=MS] [ARGS...]
 *       Installs into DIR (default %ProgramFiles%\Vmapp Test App): app.txt, args.txt (every argument
 *       received, one per line, UTF-8) and uninstall.exe (a copy of itself), and registers
 *       HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\KEY (default VmappTestApp) with an
 *       UninstallString. Exits with N (default 0) after installing, or with N before anything when
 *       /FAIL=N is given instead. /SLEEP=MS waits that long first (built with -mwindows, it shows
 *       that cmd /C waits for a GUI-subsystem installer and takes its exit code).
 *   uninstall.exe /S [/NAME=KEY]
 *       Removes the files, the directory and the registry key.
 *
 * Without /S it exits 1602 (a real installer would show its wizard; a VM has no one to click it).
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define UNINSTALL_ROOT L"Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\"

static int write_text(const wchar_t *path, const wchar_t *text) {
    FILE *f = _wfopen(path, L"wb");
    if (!f) return 0;
    int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, NULL, 0, NULL, NULL);
    char *buf = malloc(n);
    WideCharToMultiByte(CP_UTF8, 0, text, -1, buf, n, NULL, NULL);
    fwrite(buf, 1, strlen(buf), f);
    free(buf);
    fclose(f);
    return 1;
}

static int make_dirs(wchar_t *path) {
    for (wchar_t *p = path + 3; *p; p++) {
        if (*p == L'\\') {
            *p = 0;
            CreateDirectoryW(path, NULL);
            *p = L'\\';
        }
    }
    return CreateDirectoryW(path, NULL) || GetLastError() == ERROR_ALREADY_EXISTS;
}

int wmain(int argc, wchar_t **argv) {
    int silent = 0, exit_code = 0, fail = -1, sleep_ms = 0;
    wchar_t dir[MAX_PATH * 2] = L"", name[256] = L"VmappTestApp", self[MAX_PATH * 2], path[MAX_PATH * 3];
    GetModuleFileNameW(NULL, self, MAX_PATH * 2);
    const wchar_t *base = wcsrchr(self, L'\\') ? wcsrchr(self, L'\\') + 1 : self;
    int uninstall = _wcsicmp(base, L"uninstall.exe") == 0;

    for (int i = 1; i < argc; i++) {
        if (_wcsicmp(argv[i], L"/S") == 0) silent = 1;
        else if (_wcsnicmp(argv[i], L"/D=", 3) == 0) wcsncpy(dir, argv[i] + 3, MAX_PATH * 2 - 1);
        else if (_wcsnicmp(argv[i], L"/NAME=", 6) == 0) wcsncpy(name, argv[i] + 6, 255);
        else if (_wcsnicmp(argv[i], L"/EXIT=", 6) == 0) exit_code = _wtoi(argv[i] + 6);
        else if (_wcsnicmp(argv[i], L"/FAIL=", 6) == 0) fail = _wtoi(argv[i] + 6);
        else if (_wcsnicmp(argv[i], L"/SLEEP=", 7) == 0) sleep_ms = _wtoi(argv[i] + 7);
    }
    Sleep(sleep_ms);
    if (!silent) {
        fwprintf(stderr, L"testinstaller: not silent (/S missing): a wizard would wait for a click\n");
        return 1602;
    }
    if (fail >= 0) {
        fwprintf(stderr, L"testinstaller: failing with %d as asked\n", fail);
        return fail;
    }
    if (!dir[0]) {
        if (uninstall) {
            wcscpy(dir, self);
            *wcsrchr(dir, L'\\') = 0;
        } else {
            ExpandEnvironmentStringsW(L"%ProgramFiles%\\Vmapp Test App", dir, MAX_PATH * 2);
        }
    }
    wchar_t key[512];
    swprintf(key, 512, L"%ls%ls", UNINSTALL_ROOT, name);

    if (uninstall) {
        const wchar_t *files[] = {L"app.txt", L"args.txt"};
        for (int i = 0; i < 2; i++) {
            swprintf(path, MAX_PATH * 3, L"%ls\\%ls", dir, files[i]);
            DeleteFileW(path);
        }
        RegDeleteKeyW(HKEY_LOCAL_MACHINE, key);
        /* Windows cannot delete a running program: it goes at the next reboot (Wine deletes it now). */
        if (!DeleteFileW(self)) MoveFileExW(self, NULL, MOVEFILE_DELAY_UNTIL_REBOOT);
        RemoveDirectoryW(dir);
        wprintf(L"testinstaller: removed %ls\n", dir);
        return exit_code;
    }

    if (!make_dirs(dir)) {
        fwprintf(stderr, L"testinstaller: cannot create %ls\n", dir);
        return 3;
    }
    swprintf(path, MAX_PATH * 3, L"%ls\\app.txt", dir);
    if (!write_text(path, L"installed by testinstaller\r\n")) return 4;
    size_t size = 2;
    for (int i = 0; i < argc; i++) size += wcslen(argv[i]) + 2;
    wchar_t *args = calloc(size, sizeof(wchar_t));
    for (int i = 1; i < argc; i++) {
        wcscat(args, argv[i]);
        wcscat(args, L"\n");
    }
    swprintf(path, MAX_PATH * 3, L"%ls\\args.txt", dir);
    if (!write_text(path, args)) return 4;
    swprintf(path, MAX_PATH * 3, L"%ls\\uninstall.exe", dir);
    if (!CopyFileW(self, path, FALSE)) return 5;

    HKEY h;
    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, key, 0, NULL, 0, KEY_WRITE, NULL, &h, NULL) != ERROR_SUCCESS) return 6;
    wchar_t uninstall_string[MAX_PATH * 3 + 64];
    swprintf(uninstall_string, MAX_PATH * 3 + 64, L"\"%ls\" /S /NAME=%ls", path, name);
    RegSetValueExW(h, L"DisplayName", 0, REG_SZ, (const BYTE *)name, (DWORD)((wcslen(name) + 1) * sizeof(wchar_t)));
    RegSetValueExW(h, L"UninstallString", 0, REG_SZ, (const BYTE *)uninstall_string,
                   (DWORD)((wcslen(uninstall_string) + 1) * sizeof(wchar_t)));
    RegSetValueExW(h, L"InstallLocation", 0, REG_SZ, (const BYTE *)dir, (DWORD)((wcslen(dir) + 1) * sizeof(wchar_t)));
    RegCloseKey(h);
    wprintf(L"testinstaller: installed into %ls\n", dir);
    return exit_code;
}
