/*
 * crc32c.c - CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.
 *
 * The checksum is the usual one: register preset to all ones, bytes fed
 * least significant bit first, result inverted. The public functions take
 * and return the inverted value, so that ss_crc32c(0, ...) starts a checksum
 * and feeding a previous result back in continues it.
 *
 * Two implementations give identical results:
 *
 *   - hardware: the SSE4.2 crc32 instruction computes exactly this CRC, eight
 *     bytes per instruction. It is compiled for x86-64 only, with a target
 *     attribute, so the rest of the program does not need -msse4.2, and it
 *     is used only when the CPU reports SSE4.2. __builtin_cpu_supports reads
 *     a CPU model that libgcc fills in once at program start, so asking on
 *     every call is one load and a test, and needs no mutable global of ours.
 *
 *   - software: slicing-by-8. Eight 256-entry tables (crc32c_tables.h,
 *     constant data) let one step fold eight input bytes with eight lookups.
 *     Bytes are assembled explicitly, so the result does not depend on the
 *     host's byte order or on the buffer's alignment.
 */
#include "engine/crc32c.h"

#include <string.h>

#include "engine/crc32c_tables.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SS_CRC32C_HW 1
#include <nmmintrin.h>
#else
#define SS_CRC32C_HW 0
#endif

uint32_t ss_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint32_t(*t)[256] = ss_crc32c_table;
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	while (len >= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
		    t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
	return ~c;
}

#if SS_CRC32C_HW
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf,
							      size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = ~crc;

	/* memcpy, not a cast: the buffer may be unaligned and the compiler
	 * turns this into one plain load. */
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

int ss_crc32c_hw_available(void)
{
#if SS_CRC32C_HW
	return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
	return 0;
#endif
}

uint32_t ss_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if SS_CRC32C_HW
	if (ss_crc32c_hw_available())
		return crc32c_hw(crc, buf, len);
#endif
	return ss_crc32c_sw(crc, buf, len);
}
