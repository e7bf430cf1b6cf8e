/* The kernel's share of a whole-tree command, measured without dcos-images:
 * walk TREE the way src/tree/fs.rs does (openat relative to the parent,
 * getdents64, hidden entries skipped) on one core, once listing only and
 * once also reading every file whole, and print the milliseconds of each
 * per walk. Whatever `validate` spends beyond the second figure (divided by
 * the cores it uses) and `--version`'s start-up is its own work.
 *
 *     cc -O2 -o /tmp/io_floor scripts/io_floor.c && /tmp/io_floor TREE [RUNS]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct linux_dirent64 {
    unsigned long d_ino;
    long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static long dirs, files, bytes;
static char file_buf[1 << 16];

static void walk(int dir, int read_files) {
    char entries[16 * 1024];
    dirs++;
    for (;;) {
        long n = syscall(SYS_getdents64, dir, entries, sizeof entries);
        if (n <= 0) break;
        for (long at = 0; at < n;) {
            struct linux_dirent64 *e = (void *)(entries + at);
            at += e->d_reclen;
            if (e->d_name[0] == '.') continue;
            if (e->d_type == DT_DIR) {
                int sub = openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (sub < 0) continue;
                walk(sub, read_files);
                close(sub);
            } else if (e->d_type == DT_REG && read_files) {
                int f = openat(dir, e->d_name, O_RDONLY | O_CLOEXEC);
                if (f < 0) continue;
                long r;
                while ((r = read(f, file_buf, sizeof file_buf)) > 0) bytes += r;
                files++;
                close(f);
            }
        }
    }
}

static double walk_ms(const char *root, int read_files, int runs) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < runs; i++) {
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) { perror(root); exit(1); }
        walk(fd, read_files);
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / runs;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s TREE [RUNS]\n", argv[0]); return 2; }
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    walk_ms(argv[1], 1, 1); /* warm the page cache */
    dirs = files = bytes = 0;
    double list_only = walk_ms(argv[1], 0, runs);
    long tree_dirs = dirs / runs;
    dirs = 0;
    double with_reads = walk_ms(argv[1], 1, runs);
    printf("%ld directories, %ld files, %ld bytes; one core, %d runs:\n", tree_dirs, files / runs, bytes / runs, runs);
    printf("  list every directory:            %.2f ms\n", list_only);
    printf("  list them and read every file:   %.2f ms\n", with_reads);
    return 0;
}
