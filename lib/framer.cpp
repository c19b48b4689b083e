// SPDX-License-Identifier: MIT
#include "framer.hpp"

#include <cstdint>
#include <cstdio>

#if defined(__SSE2__) && !defined(QMP_FRAMER_NO_SIMD)
#include <emmintrin.h>
#define QMP_FRAMER_SSE2 1
#endif

namespace qmp::detail {

namespace {

std::string describe_byte(unsigned char byte)
{
    char text[48];
    if (byte >= 0x20 && byte < 0x7f)
        std::snprintf(text, sizeof text, "'%c' (0x%02x)", byte, byte);
    else
        std::snprintf(text, sizeof text, "0x%02x", byte);
    return text;
}

[[noreturn]] void too_large(std::size_t max_message_size)
{
    throw FramingError(
        "message exceeds the limit of " + std::to_string(max_message_size) + " bytes");
}

[[noreturn]] void too_deep(std::size_t max_depth)
{
    throw FramingError("message nests deeper than " + std::to_string(max_depth) + " levels");
}

// The bytes that can change the scan state in a string, and outside one.
constexpr unsigned char string_event = 1, structure_event = 2;

struct ByteClasses {
    unsigned char classes[256] = {};
    constexpr ByteClasses()
    {
        classes[static_cast<unsigned char>('"')] = string_event | structure_event;
        classes[static_cast<unsigned char>('\\')] = string_event;
        for (char c : {'{', '}', '[', ']'})
            classes[static_cast<unsigned char>(c)] = structure_event;
    }
    constexpr unsigned char operator[](unsigned char byte) const { return classes[byte]; }
};

constexpr ByteClasses byte_class;

bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

} // namespace

Framer::Framer(std::size_t max_message_size, std::size_t max_depth)
    : max_message_size_(max_message_size), max_depth_(max_depth)
{
}

bool Framer::next_message(const char*& next, const char* const end, std::string_view& message)
{
    if (handed_out_) {
        partial_.clear();
        handed_out_ = false;
    }
    const char* p = next;
    if (depth_ > 0) {
        // Continuing the message whose beginning is in partial_.
        const char* const close = scan(p, end);
        const std::size_t taken = static_cast<std::size_t>((close ? close : end) - p);
        if (partial_.size() + taken > max_message_size_)
            too_large(max_message_size_);
        partial_.append(p, taken);
        if (!close) {
            next = end;
            return false;
        }
        next = close;
        message = partial_;
        handed_out_ = true;
        return true;
    }
    // Between messages only whitespace may appear.
    while (p != end && is_space(*p))
        ++p;
    next = p;
    if (p == end)
        return false;
    if (*p != '{' && *p != '[')
        throw FramingError("unexpected byte " + describe_byte(static_cast<unsigned char>(*p)) +
            " between messages (expected a JSON object)");
    // The opening bracket is level 1 and counts against the limit like any other.
    if (max_depth_ == 0)
        too_deep(0);
    depth_ = 1;
    in_string_ = false;
    escaped_ = false;
    const char* const close = scan(p + 1, end);
    const std::size_t length = static_cast<std::size_t>((close ? close : end) - p);
    if (length > max_message_size_)
        too_large(max_message_size_);
    if (!close) {
        // Incomplete: keep its beginning (already scanned) for the next feed().
        partial_.assign(p, length);
        next = end;
        return false;
    }
    // Complete within the caller's bytes: no copy.
    next = close;
    message = std::string_view(p, length);
    return true;
}

// Scans [p, end) inside a message, from the state in depth_, in_string_ and escaped_. Returns
// the end of the message (one past its closing bracket), or nullptr if it goes on past end; the
// state is then that at end.
const char* Framer::scan(const char* p, const char* const end)
{
    std::size_t depth = depth_;
    bool in_string = in_string_;
    bool escaped = escaped_; // in a string, the byte at p is escaped
    const std::size_t max_depth = max_depth_;

#ifdef QMP_FRAMER_SSE2
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i open = _mm_set1_epi8('{');
    const __m128i close = _mm_set1_epi8('}');
    const __m128i case_bit = _mm_set1_epi8(0x20); // '[' | 0x20 == '{', ']' | 0x20 == '}'

    // 16 bytes at p: a bit mask of the bytes that can change the state (quotes and backslashes
    // in a string; quotes and brackets outside), then one step per such byte. Returns the end of
    // the message, or nullptr if it does not end in these bytes.
    const auto step16 = [&](const char* block) -> const char* {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
        const __m128i folded = _mm_or_si128(bytes, case_bit);
        const __m128i quotes = _mm_cmpeq_epi8(bytes, quote);
        const auto string_events = static_cast<unsigned>(
            _mm_movemask_epi8(_mm_or_si128(quotes, _mm_cmpeq_epi8(bytes, backslash))));
        const auto structure_events = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
            quotes, _mm_or_si128(_mm_cmpeq_epi8(folded, open), _mm_cmpeq_epi8(folded, close)))));
        unsigned todo = escaped ? ~1u : ~0u; // the bytes not yet examined
        escaped = false;
        for (;;) {
            const unsigned events = (in_string ? string_events : structure_events) & todo;
            if (events == 0)
                return nullptr;
            const auto i = static_cast<unsigned>(__builtin_ctz(events));
            const char c = block[i];
            todo = ~1u << i;
            if (in_string) {
                if (c == '"') {
                    in_string = false;
                } else { // a backslash: skip the next byte, which may be in the next block
                    todo <<= 1;
                    escaped = i == 15;
                }
            } else if (c == '"') {
                in_string = true;
            } else if ((c | 0x20) == '{') {
                if (++depth > max_depth) {
                    depth_ = depth;
                    too_deep(max_depth);
                }
            } else if (--depth == 0) {
                return block + i + 1;
            }
        }
    };

    // 64 bytes at a time. Without backslashes, the quotes alone tell which bytes are in strings
    // (a prefix XOR of their mask), and only the brackets outside strings need a step each.
    while (end - p >= 64) {
        std::uint64_t quotes = 0, backslashes = 0, brackets = 0;
        for (int k = 0; k < 4; ++k) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
            const __m128i folded = _mm_or_si128(bytes, case_bit);
            const auto shift = 16 * k;
            quotes |= std::uint64_t(unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote))))
                << shift;
            backslashes |=
                std::uint64_t(unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, backslash))))
                << shift;
            brackets |= std::uint64_t(unsigned(_mm_movemask_epi8(_mm_or_si128(
                            _mm_cmpeq_epi8(folded, open), _mm_cmpeq_epi8(folded, close)))))
                << shift;
        }
        if (backslashes != 0) {
            for (int k = 0; k < 4; ++k, p += 16)
                if (const char* message_end = step16(p)) {
                    depth_ = 0;
                    in_string_ = escaped_ = false;
                    return message_end;
                }
            continue;
        }
        if (escaped) { // the first byte, escaped, is neither a quote nor a bracket
            quotes &= ~std::uint64_t(1);
            brackets &= ~std::uint64_t(1);
            escaped = false;
        }
        // Bit i of in_strings: byte i is in a string (an opening quote counts as in it, a
        // closing quote as out of it; neither is a bracket, so that does not matter).
        std::uint64_t in_strings = quotes;
        for (int shift = 1; shift < 64; shift *= 2)
            in_strings ^= in_strings << shift;
        if (in_string)
            in_strings = ~in_strings;
        for (std::uint64_t steps = brackets & ~in_strings; steps != 0; steps &= steps - 1) {
            const auto i = static_cast<unsigned>(__builtin_ctzll(steps));
            if ((p[i] | 0x20) == '{') {
                if (++depth > max_depth) {
                    depth_ = depth;
                    too_deep(max_depth);
                }
            } else if (--depth == 0) {
                depth_ = 0;
                in_string_ = escaped_ = false;
                return p + i + 1;
            }
        }
        in_string = (in_strings >> 63) != 0;
        p += 64;
    }
    for (; end - p >= 16; p += 16)
        if (const char* message_end = step16(p)) {
            depth_ = 0;
            in_string_ = escaped_ = false;
            return message_end;
        }
#endif

    // The rest (or all of it without SSE2), a byte at a time.
    if (escaped && p != end) {
        ++p;
        escaped = false;
    }
    while (p != end) {
        if (in_string) {
            while (p != end && !(byte_class[static_cast<unsigned char>(*p)] & string_event))
                ++p;
            if (p == end)
                break;
            if (*p++ == '"') {
                in_string = false;
            } else if (p == end) { // a backslash: the byte after it is escaped
                escaped = true;
            } else {
                ++p;
            }
            continue;
        }
        while (p != end && !(byte_class[static_cast<unsigned char>(*p)] & structure_event))
            ++p;
        if (p == end)
            break;
        const char c = *p++;
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                depth_ = depth;
                too_deep(max_depth);
            }
        } else if (--depth == 0) {
            depth_ = 0;
            in_string_ = escaped_ = false;
            return p;
        }
    }
    depth_ = depth;
    in_string_ = in_string;
    escaped_ = escaped;
    return nullptr;
}

void Framer::keep_unread(const char* next, const char* end)
{
    if (handed_out_) {
        partial_.clear();
        handed_out_ = false;
    }
    unread_.assign(next, static_cast<std::size_t>(end - next));
}

} // namespace qmp::detail
