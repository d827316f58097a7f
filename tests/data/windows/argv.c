/*
 * argv.exe OUT_FILE [ARGS...]: writes each argument after OUT_FILE to OUT_FILE, UTF-8, each followed
 * by a NUL byte, so the tests compare what a program received byte for byte (a newline, a trailing
 * space or an empty argument included).
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int wmain(int argc, wchar_t **argv) {
    if (argc < 2) return 2;
    FILE *f = _wfopen(argv[1], L"wb");
    if (!f) return 3;
    for (int i = 2; i < argc; i++) {
        int n = WideCharToMultiByte(CP_UTF8, 0, argv[i], -1, NULL, 0, NULL, NULL);
        char *buf = malloc(n);
        WideCharToMultiByte(CP_UTF8, 0, argv[i], -1, buf, n, NULL, NULL);
        fwrite(buf, 1, n, f); /* n counts the terminating NUL */
        free(buf);
    }
    fclose(f);
    return 0;
}
