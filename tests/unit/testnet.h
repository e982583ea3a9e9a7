/* testnet.h — for the HTTP client's unit tests. */
#ifndef TDEXEC_TESTNET_H
#define TDEXEC_TESTNET_H

#include "net/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* The public policy, with one loopback port (ctx: an int) taken for a
 * public server: how a unit test stands for "a public host" on a machine
 * with loopback only. */
static inline int public_but_port(void *ctx, const struct sockaddr *sa, size_t len)
{
	const int *port = ctx;
	struct sockaddr_in in;
	if (sa->sa_family == AF_INET && len >= sizeof(in)) {
		memcpy(&in, sa, sizeof(in));
		if (ntohl(in.sin_addr.s_addr) == INADDR_LOOPBACK && ntohs(in.sin_port) == *port)
			return 0;
	}
	return http_dest_public_check(NULL, sa, len);
}

#endif
