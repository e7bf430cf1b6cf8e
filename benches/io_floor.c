/* The kernel's share of a whole-tree command, measured without dcos-images:
 * walk TREE the way src/tree/fs.rs does (openat relative to the parent,
 * getdents64, hidden entries skipped) on one core, once listing only and
 * once also reading every file whole, and print the milliseconds of each
 * per walk. Whatever `validate` spends beyond the second figure (divided by
 * the cores it uses) and `--version`'s start-up is its own work.
 *
 *     cc -O2 -o /tmp/io_floor benches/io_floor.c && /tmp/io_floor TREE [RUNS]
 *
 * With --process, it walks TREE once as a whole-tree command would, on
 * THREADS threads (the OS-version directories shared among them as
 * `validate` shares them), reads every file and exits: benches/bench.py
 * times that as a process, start-up included, beside dcos-images and
 * Python's parse. It is the least any program can take to look at every
 * file of the tree on this machine, parsing nothing.
 *
 * With `data` after THREADS it lists every directory the same way but reads
 * only the data files (.json, .yaml, .yml, .tfvars) and each build
 * directory's install_dcos_prerequisites.sh (its `gone-mirror` check reads
 * the mirrors it names): what `validate` must read (of the other scripts,
 * READMEs and files it only asks whether they are there), so the honest
 * floor of a command that reads the tree's data.
 *
 *     /tmp/io_floor --process TREE THREADS [data]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
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

/* Per thread: in --process mode each thread counts its own (unread). */
static _Thread_local long dirs, files, bytes;
static _Thread_local char file_buf[1 << 16];

/* `data`: only files whose names end so, and the prerequisites script, are read. */
static int data_only;

static int is_data(const char *name) {
    static const char *suffixes[] = {".json", ".yaml", ".yml", ".tfvars"};
    size_t n = strlen(name);
    if (strcmp(name, "install_dcos_prerequisites.sh") == 0) return 1;
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) return 1;
    }
    return 0;
}

/* --process: the OS-version directories, taken in turn by the threads. */
static int subtrees[4096];
static int subtree_count;
static atomic_int next_subtree;

/* Lists `dir` and walks on into its subdirectories (hidden ones skipped),
 * reading its files when `read_files`; with `hand_back` n > 0, the
 * directories n levels down are opened into `subtrees` instead. */
static void walk(int dir, int read_files, int hand_back) {
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
                if (hand_back == 1 && subtree_count < 4096) {
                    subtrees[subtree_count++] = sub;
                    continue;
                }
                walk(sub, read_files, hand_back > 0 ? hand_back - 1 : 0);
                close(sub);
            } else if (e->d_type == DT_REG && read_files && (!data_only || is_data(e->d_name))) {
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
        walk(fd, read_files, 0);
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    return ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / runs;
}

static void *walk_subtrees(void *unused) {
    (void)unused;
    for (int i; (i = atomic_fetch_add(&next_subtree, 1)) < subtree_count;) {
        walk(subtrees[i], 1, 0);
        close(subtrees[i]);
    }
    return NULL;
}

static int process(const char *root, int threads) {
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) { perror(root); return 1; }
    walk(fd, 1, 2);
    pthread_t t[64];
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    /* All the walking on new threads, as dcos-images does: with the main
     * thread as one of them, the other started late here (9.0 against
     * 7.4 ms). */
    for (int k = 0; k < threads; k++) pthread_create(&t[k], NULL, walk_subtrees, NULL);
    for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
    return 0;
}

int main(int argc, char **argv) {
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "--process") == 0) {
        data_only = argc == 5 && strcmp(argv[4], "data") == 0;
        return process(argv[2], atoi(argv[3]));
    }
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
