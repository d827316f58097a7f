/*
 * vmapp-cmd.exe COMMAND_FILE WORKDIR RC_FILE
 *
 * Runs one command string the way the VM Application extension does: `cmd.exe /C <string>` with
 * the string passed verbatim in the process's command line (CreateProcessW), from WORKDIR, with
 * stdout and stderr written to WORKDIR\stdout and WORKDIR\stderr. The full 32-bit exit code is
 * written to RC_FILE (Linux keeps only the low 8 bits of wine's exit status).
 *
 * `wine cmd /c "<string>"` from Linux re-quotes the arguments; this launcher does not.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static wchar_t *read_utf8(const wchar_t *path) {
    HANDLE f = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE) return NULL;
    DWORD size = GetFileSize(f, NULL), got = 0;
    char *buf = calloc(size + 1, 1);
    if (!buf || !ReadFile(f, buf, size, &got, NULL)) { CloseHandle(f); return NULL; }
    CloseHandle(f);
    int n = MultiByteToWideChar(CP_UTF8, 0, buf, (int)got, NULL, 0);
    wchar_t *text = calloc((size_t)n + 1, sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, 0, buf, (int)got, text, n);
    free(buf);
    /* One line: drop the trailing newline a file may end with. */
    while (n > 0 && (text[n - 1] == L'\n' || text[n - 1] == L'\r')) text[--n] = 0;
    return text;
}

static HANDLE output_file(const wchar_t *dir, const wchar_t *name) {
    wchar_t path[MAX_PATH * 2];
    SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, TRUE};
    swprintf(path, sizeof(path) / sizeof(path[0]), L"%ls\\%ls", dir, name);
    return CreateFileW(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, CREATE_ALWAYS,
                       FILE_ATTRIBUTE_NORMAL, NULL);
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 4) {
        fwprintf(stderr, L"usage: vmapp-cmd COMMAND_FILE WORKDIR RC_FILE\n");
        return 255;
    }
    wchar_t *command = read_utf8(argv[1]);
    if (!command) {
        fwprintf(stderr, L"vmapp-cmd: cannot read %ls\n", argv[1]);
        return 255;
    }
    wchar_t cmd_exe[MAX_PATH];
    GetSystemDirectoryW(cmd_exe, MAX_PATH);
    wcscat(cmd_exe, L"\\cmd.exe");
    size_t len = wcslen(command) + 16;
    wchar_t *line = calloc(len, sizeof(wchar_t));
    swprintf(line, len, L"cmd /C %ls", command);

    SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, TRUE};
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    ZeroMemory(&si, sizeof(si));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ, &sa, OPEN_EXISTING, 0, NULL);
    si.hStdOutput = output_file(argv[2], L"stdout");
    si.hStdError = output_file(argv[2], L"stderr");
    if (si.hStdOutput == INVALID_HANDLE_VALUE || si.hStdError == INVALID_HANDLE_VALUE) {
        fwprintf(stderr, L"vmapp-cmd: cannot write stdout/stderr in %ls\n", argv[2]);
        return 255;
    }
    if (!CreateProcessW(cmd_exe, line, NULL, NULL, TRUE, 0, NULL, argv[2], &si, &pi)) {
        fwprintf(stderr, L"vmapp-cmd: cannot start cmd.exe: error %lu\n", GetLastError());
        return 255;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 0;
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(si.hStdOutput);
    CloseHandle(si.hStdError);
    FILE *rc = _wfopen(argv[3], L"w");
    if (rc) {
        fprintf(rc, "%ld\n", (long)(LONG)code);
        fclose(rc);
    }
    return (int)code;
}
