/*
 * socket_close_effect.c - the smallest Gearman foreground client: SUBMIT_JOB, then read until
 * WORK_COMPLETE, N times, blocking reads, nothing else. With EXTRA=1 it also creates and
 * closes an AF_UNIX socket before every submission, which is what libgearman's libuuid does
 * when it tries to reach uuidd for each task's unique.
 *
 * On the 2-vCPU VM of BENCHMARKS.md (LAYOUT=spread: gearmand on CPU 0, this client and an echo
 * worker on CPU 1) the useless socket()+close() pair makes every round trip ~25% faster
 * (397 -> 301 us), which is the whole lead libgearman has in the one-at-a-time modes there.
 *
 *   gcc -O2 -o /tmp/socket_close_effect docs/experiments/socket_close_effect.c
 *   taskset -c 1 gmbench echo_worker 127.0.0.1 PORT 0 0 &     # any echo worker for bench_echo
 *   taskset -c 1 /tmp/socket_close_effect PORT 2000           # plain
 *   EXTRA=1 taskset -c 1 /tmp/socket_close_effect PORT 2000   # with libuuid's socket dance
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PORT N\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]), n = atoi(argv[2]);
  int extra = getenv("EXTRA") != NULL;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    return 1;
  }
  static const char body[] = "bench_echo\0\0" "0123456789abcdef"; /* function, empty unique */
  const unsigned body_len = sizeof body - 1;
  unsigned char request[64];
  unsigned kind = htonl(7), len = htonl(body_len); /* SUBMIT_JOB */
  memcpy(request, "\0REQ", 4);
  memcpy(request + 4, &kind, 4);
  memcpy(request + 8, &len, 4);
  memcpy(request + 12, body, body_len);
  static unsigned char buf[65536];
  double started = now();
  for (int i = 0; i < n; i++) {
    if (extra) {
      int unused = socket(AF_UNIX, SOCK_STREAM, 0);
      close(unused);
    }
    if (write(fd, request, 12 + body_len) != (ssize_t)(12 + body_len)) {
      perror("write");
      return 1;
    }
    int have = 0, done = 0;
    while (!done) {
      ssize_t got = recv(fd, buf + have, sizeof buf - have, 0);
      if (got <= 0) {
        perror("recv");
        return 1;
      }
      have += (int)got;
      int used = 0;
      while (have - used >= 12) {
        unsigned packet_len, packet_kind;
        memcpy(&packet_len, buf + used + 8, 4);
        memcpy(&packet_kind, buf + used + 4, 4);
        packet_len = ntohl(packet_len);
        if (have - used < 12 + (int)packet_len) break;
        if (ntohl(packet_kind) == 13) done = 1; /* WORK_COMPLETE */
        used += 12 + (int)packet_len;
      }
      memmove(buf, buf + used, have - used);
      have -= used;
    }
  }
  printf("n=%d extra=%d mean_us=%.1f\n", n, extra, (now() - started) * 1e6 / n);
  return 0;
}
