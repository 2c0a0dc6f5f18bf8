/*
 * crc32c.c - TEMPORARY STAND-IN for the real CRC-32C module.
 *
 * The engine branch needs a working ss_crc32c to build and test the log
 * codec while the real implementation (SSE4.2 + slicing-by-8) is written on
 * another branch. This is the plain bitwise algorithm: one bit at a time,
 * reflected polynomial 0x82f63b78. It is slow and obviously correct, and it
 * gives the same results as the real one, so records written with it are
 * readable by it. Drop this commit at merge; the real file replaces it.
 */
#include "statestored/crc32c.h"

uint32_t ss_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

uint32_t ss_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ss_crc32c_sw(crc, buf, len);
}

int ss_crc32c_hw_available(void)
{
	return 0;
}
