// SPDX-License-Identifier: MIT
#include "event_message.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <qmp/error.hpp>

namespace qmp::detail {

namespace {

// The record classify_message() writes and build_tree() reads: one tag byte per parser
// callback, then its value. Lengths and integers are varints (7 bits a byte, low bits first;
// negative integers zigzag-encoded), so a record is at most about twice its text's size.
namespace tag {
constexpr char null = 'n', yes = 't', no = 'f';
constexpr char integer = 'i', natural = 'u', floating = 'd';
constexpr char string = 's', key = 'k';
constexpr char object = '{', array = '[', end = ')';
} // namespace tag

void append_varint(EventRecord& record, char kind, std::uint64_t number)
{
    record.push_back(kind);
    while (number >= 0x80) {
        record.push_back(static_cast<char>(number | 0x80));
        number >>= 7;
    }
    record.push_back(static_cast<char>(number));
}

void append_text(EventRecord& record, char kind, std::string_view text)
{
    append_varint(record, kind, text.size());
    record.append(text);
}

// Walks a message with nlohmann's SAX parser and records it, building no tree. Returning false
// from a callback stops the parser: that is how it gives up on a message that is not an event.
class EventClassifier {
public:
    using string_t = json::string_t;

    enum class Scope {
        message, ///< a whole message: an object whose members may only be an event's
        value, ///< any one JSON value, appended to a record begun by the caller (an event's data)
    };

    /// \p record: what to append to (scope value); \p text_size: the text's, to reserve for.
    EventClassifier(Scope scope, EventRecord record, std::size_t text_size)
        : scope_(scope), text_size_(text_size), record_(std::move(record))
    {
    }

    MessageClass result;

    bool null() { return scalar(tag::null); }
    bool boolean(bool yes) { return scalar(yes ? tag::yes : tag::no); }
    bool number_integer(json::number_integer_t number)
    {
        // Zigzag: small negative numbers stay short.
        const auto bits = static_cast<std::uint64_t>(number);
        put_varint(tag::integer, number < 0 ? ~(bits << 1) : bits << 1);
        return value();
    }
    bool number_unsigned(json::number_unsigned_t number)
    {
        put_varint(tag::natural, number);
        return value();
    }
    bool number_float(json::number_float_t number, const string_t&)
    {
        char bytes[sizeof number];
        std::memcpy(bytes, &number, sizeof number);
        record_.push_back(tag::floating);
        record_.append(std::string_view(bytes, sizeof bytes));
        return value();
    }
    bool binary(json::binary_t&) { return false; } // JSON text has none
    bool string(string_t& text)
    {
        if (expecting_event_name_ && depth_ == 1) {
            event_is_string_ = true;
            put_varint(tag::string, text.size());
            name_at_ = record_.size();
            name_size_ = text.size();
            record_.append(text);
        } else {
            put_text(tag::string, text);
        }
        return value();
    }
    bool start_object(std::size_t)
    {
        if (!value())
            return false;
        record_.push_back(tag::object);
        ++depth_;
        return true;
    }
    bool start_array(std::size_t)
    {
        if (depth_ == 0 && scope_ == Scope::message) // not an object at all
            return false;
        value();
        record_.push_back(tag::array);
        ++depth_;
        return true;
    }
    bool end_object() { return end(); }
    bool end_array() { return end(); }
    bool key(string_t& name)
    {
        if (depth_ == 1 && scope_ == Scope::message) {
            if (name == "event") {
                // The last "event" member counts, as in a parsed tree.
                expecting_event_name_ = true;
                event_is_string_ = false;
            } else if (name != "timestamp" && name != "data") {
                return false;
            }
            record_.reserve(text_size_ + 16); // likely an event: record it without regrowing
        }
        put_text(tag::key, name);
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error)
    {
        result.kind = MessageClass::Kind::malformed;
        result.error = error.what();
        return false;
    }

    bool is_event() const { return event_is_string_; }
    /// The record, with where the event's name is in it, once is_event().
    QueuedEvent take_event()
    {
        QueuedEvent event;
        event.record = std::move(record_);
        event.name_at = static_cast<std::uint32_t>(name_at_);
        event.name_size = static_cast<std::uint32_t>(name_size_);
        return event;
    }
    EventRecord take_record() { return std::move(record_); }

private:
    // Called for every value: only the value right after the top-level "event" key names it.
    // False for a top-level value that is not an object.
    bool value()
    {
        expecting_event_name_ = false;
        return depth_ > 0 || started_++ == 0 || scope_ == Scope::value;
    }
    bool scalar(char kind)
    {
        record_.push_back(kind);
        return value();
    }
    bool end()
    {
        record_.push_back(tag::end);
        --depth_;
        return true;
    }
    void put_varint(char kind, std::uint64_t number) { append_varint(record_, kind, number); }
    void put_text(char kind, const string_t& text) { append_text(record_, kind, text); }

    const Scope scope_;
    const std::size_t text_size_;
    EventRecord record_;
    std::size_t name_at_ = 0, name_size_ = 0;
    int depth_ = 0;
    int started_ = 0;
    bool expecting_event_name_ = false;
    bool event_is_string_ = false;
};

[[noreturn]] void damaged()
{
    throw Error("qmp: internal error: a queued event's record is damaged");
}

// Reads a record back; every read is bounds-checked.
class RecordReader {
public:
    explicit RecordReader(std::string_view record)
        : next_(record.data()), end_(next_ + record.size())
    {
    }

    bool done() const { return next_ == end_; }
    char tag()
    {
        if (next_ == end_)
            damaged();
        return *next_++;
    }
    std::uint64_t varint()
    {
        std::uint64_t number = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            const auto byte = static_cast<unsigned char>(tag());
            number |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if ((byte & 0x80) == 0)
                return number;
        }
        damaged();
    }
    std::string_view text()
    {
        const std::uint64_t size = varint();
        if (size > static_cast<std::uint64_t>(end_ - next_))
            damaged();
        const std::string_view text(next_, size);
        next_ += size;
        return text;
    }
    double floating()
    {
        double number;
        if (static_cast<std::size_t>(end_ - next_) < sizeof number)
            damaged();
        std::memcpy(&number, next_, sizeof number);
        next_ += sizeof number;
        return number;
    }

private:
    const char* next_;
    const char* const end_;
};

// The containers build_tree() is filling, innermost last. The first few are kept inline: an
// event rarely nests deeper, and a heap allocation per event is a good part of building one.
class OpenContainers {
public:
    bool empty() const { return size_ == 0; }
    json* back() const { return size_ <= inline_count ? inline_[size_ - 1] : deeper_.back(); }
    void push_back(json* container)
    {
        if (size_ < inline_count)
            inline_[size_] = container;
        else
            deeper_.push_back(container);
        ++size_;
    }
    void pop_back()
    {
        if (size_ > inline_count)
            deeper_.pop_back();
        --size_;
    }

private:
    static constexpr std::size_t inline_count = 16;
    json* inline_[inline_count] = {};
    std::vector<json*> deeper_;
    std::size_t size_ = 0;
};

// The tree the record describes: what json::parse() of the message's text returns.
json build_tree(std::string_view record)
{
    RecordReader reader(record);
    json root;
    OpenContainers open;
    json* member = nullptr; // in an object: the value the last key named
    // Puts a value where the record is, and returns where it went.
    const auto place = [&](json&& value) -> json* {
        if (open.empty()) {
            if (!root.is_null())
                damaged(); // two top-level values
            root = std::move(value);
            return &root;
        }
        json& parent = *open.back();
        if (parent.is_array()) {
            auto& array = parent.get_ref<json::array_t&>();
            array.push_back(std::move(value));
            return &array.back();
        }
        if (!member)
            damaged(); // a value without a key
        *member = std::move(value);
        json* placed = member;
        member = nullptr;
        return placed;
    };
    while (!reader.done()) {
        switch (reader.tag()) {
        case tag::null:
            place(nullptr);
            break;
        case tag::yes:
            place(true);
            break;
        case tag::no:
            place(false);
            break;
        case tag::integer: {
            const std::uint64_t bits = reader.varint();
            const std::uint64_t magnitude = bits >> 1;
            place(static_cast<json::number_integer_t>((bits & 1) != 0 ? ~magnitude : magnitude));
            break;
        }
        case tag::natural:
            place(static_cast<json::number_unsigned_t>(reader.varint()));
            break;
        case tag::floating:
            place(reader.floating());
            break;
        case tag::string:
            place(json(std::string(reader.text())));
            break;
        case tag::object:
            open.push_back(place(json::object()));
            break;
        case tag::array:
            open.push_back(place(json::array()));
            break;
        case tag::end:
            if (open.empty() || member)
                damaged();
            open.pop_back();
            break;
        case tag::key: {
            if (open.empty() || !open.back()->is_object() || member)
                damaged();
            // A repeated key keeps its last value, as json::parse() does.
            member = &open.back()->get_ref<json::object_t&>()[std::string(reader.text())];
            break;
        }
        default:
            damaged();
        }
    }
    if (!open.empty() || !root.is_object())
        damaged();
    return root;
}

std::chrono::system_clock::time_point event_time(const json* ts)
{
    if (!ts || !ts->is_object())
        return {};
    const auto seconds_it = ts->find("seconds");
    const auto micros_it = ts->find("microseconds");
    if (seconds_it == ts->end() || micros_it == ts->end())
        return {};
    const json& seconds = *seconds_it;
    const json& micros = *micros_it;
    if (!seconds.is_number_integer() || !micros.is_number_integer() || seconds.get<long long>() < 0)
        return {};
    // A peer can send any number: beyond what the clock's duration holds (about year 2262 with
    // nanoseconds) the conversion would overflow, which is undefined behaviour.
    constexpr long long max_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max())
            .count() -
        1;
    if (seconds.get<long long>() > max_seconds || micros.get<long long>() < 0 ||
        micros.get<long long>() > 999999)
        return {};
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(seconds.get<long long>()) +
            std::chrono::microseconds(micros.get<long long>())));
}

// Whether the message's first member is plainly not one an event has: `{"return": ...`,
// `{"error": ...`, `{"QMP": ...`, `{"id": ...`, written without escapes. The SAX pass would stop
// at that key as well; this spares a reply the parser's set-up (about 2,000 instructions).
bool plainly_not_an_event(std::string_view text)
{
    std::size_t at = 1; // past the framer's '{' or '['
    while (at < text.size() &&
        (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t'))
        ++at;
    if (text.empty() || text[0] != '{' || at >= text.size() || text[at] != '"')
        return false;
    const std::size_t close = text.find_first_of("\"\\", at + 1);
    if (close == std::string_view::npos || text[close] != '"')
        return false;
    const std::string_view key = text.substr(at + 1, close - at - 1);
    return key != "event" && key != "timestamp" && key != "data";
}

// Reads an event written the way QEMU writes every one of them,
//   {"timestamp": {"seconds": S, "microseconds": U}, "event": "NAME"}  or
//   {"timestamp": {"seconds": S, "microseconds": U}, "event": "NAME", "data": VALUE}
// and records it as the SAX pass would, byte for byte, without lexing the envelope: about a
// tenth of the SAX pass's cost for an event without data. Only the plainest spellings are taken
// (this spacing, integers of at most 18 digits, a name of printable ASCII without escapes); for
// anything else, and whenever the data is not exactly one valid JSON value, it gives up and
// the caller runs the SAX pass on the whole message, which then decides.
class CanonicalEventReader {
public:
    explicit CanonicalEventReader(std::string_view text) : text_(text) { }

    /// The event, or nothing if the text is not spelled canonically.
    std::optional<QueuedEvent> read()
    {
        QueuedEvent event;
        EventRecord& record = event.record;
        record.reserve(text_.size() + 16);
        record.push_back(tag::object);
        if (!literal(R"({"timestamp": {"seconds": )"))
            return std::nullopt;
        append_text(record, tag::key, "timestamp");
        record.push_back(tag::object);
        append_text(record, tag::key, "seconds");
        if (!integer(record) || !literal(R"(, "microseconds": )"))
            return std::nullopt;
        append_text(record, tag::key, "microseconds");
        if (!integer(record) || !literal(R"(}, "event": ")"))
            return std::nullopt;
        record.push_back(tag::end);
        append_text(record, tag::key, "event");
        const std::size_t name_start = at_;
        while (at_ < text_.size() && text_[at_] >= 0x20 && text_[at_] < 0x7f && text_[at_] != '"' &&
            text_[at_] != '\\')
            ++at_;
        if (at_ >= text_.size() || text_[at_] != '"')
            return std::nullopt;
        const std::string_view name = text_.substr(name_start, at_ - name_start);
        append_varint(record, tag::string, name.size());
        event.name_at = static_cast<std::uint32_t>(record.size());
        event.name_size = static_cast<std::uint32_t>(name.size());
        record.append(name);
        ++at_;
        // The message's last '}' closes it: what lies before it, after "data", is the data.
        std::size_t close = text_.size();
        while (close > at_ && is_space(text_[close - 1]))
            --close;
        if (close == at_ || text_[close - 1] != '}')
            return std::nullopt;
        --close;
        if (at_ != close) {
            if (!literal(R"(, "data": )"))
                return std::nullopt;
            append_text(record, tag::key, "data");
            const std::string_view data = text_.substr(at_, close - at_);
            // nlohmann's lexer takes a NUL byte for the end of its input, and skips a UTF-8 BOM
            // at its start: the data alone could be valid where the whole message is not. So
            // the data must start with a value (QEMU writes no space there) and hold no NUL.
            if (data.empty() ||
                std::string_view("{[\"-0123456789tfn").find(data[0]) == std::string_view::npos ||
                data.find('\0') != std::string_view::npos)
                return std::nullopt;
            EventClassifier value(EventClassifier::Scope::value, std::move(record), 0);
            if (!json::sax_parse(data.begin(), data.end(), &value) ||
                value.result.kind == MessageClass::Kind::malformed)
                return std::nullopt;
            record = value.take_record();
        }
        record.push_back(tag::end);
        return event;
    }

private:
    static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

    bool literal(std::string_view expected)
    {
        if (text_.substr(at_, expected.size()) != expected)
            return false;
        at_ += expected.size();
        return true;
    }

    // An integer as nlohmann's lexer reads it: unsigned unless it has a sign ("-0" included).
    bool integer(EventRecord& record)
    {
        const bool negative = at_ < text_.size() && text_[at_] == '-';
        const std::size_t digits_start = negative ? at_ + 1 : at_;
        std::size_t end = digits_start;
        std::uint64_t magnitude = 0;
        while (end < text_.size() && text_[end] >= '0' && text_[end] <= '9' &&
            end - digits_start < 18) // 18 digits fit in any integer type, signed or not
            magnitude = magnitude * 10 + static_cast<std::uint64_t>(text_[end++] - '0');
        const std::size_t digits = end - digits_start;
        if (digits == 0 || (digits > 1 && text_[digits_start] == '0'))
            return false; // none, or a leading zero (invalid JSON)
        if (end < text_.size() &&
            (text_[end] == '.' || text_[end] == 'e' || text_[end] == 'E' ||
                (text_[end] >= '0' && text_[end] <= '9')))
            return false; // a fraction, an exponent or more digits: the lexer decides
        if (negative) // zigzag, as EventClassifier::number_integer() writes it; -0 is 0
            append_varint(record, tag::integer, magnitude == 0 ? 0 : ((magnitude - 1) << 1) | 1);
        else
            append_varint(record, tag::natural, magnitude);
        at_ = end;
        return true;
    }

    const std::string_view text_;
    std::size_t at_ = 0;
};

} // namespace

EventRecord& EventRecord::operator=(const EventRecord& other)
{
    if (this != &other) {
        clear();
        append(other.view());
    }
    return *this;
}

EventRecord& EventRecord::operator=(EventRecord&& other) noexcept
{
    if (this != &other)
        take(other);
    return *this;
}

void EventRecord::append(std::string_view bytes)
{
    if (!on_heap_ && inline_size_ + bytes.size() <= inline_capacity) {
        std::memcpy(inline_ + inline_size_, bytes.data(), bytes.size());
        inline_size_ = static_cast<std::uint8_t>(inline_size_ + bytes.size());
    } else {
        to_heap(bytes.size()).append(bytes);
    }
}

void EventRecord::reserve(std::size_t size)
{
    if (on_heap_)
        heap_.reserve(size);
    else
        expected_size_ = size;
}

void EventRecord::clear()
{
    inline_size_ = 0;
    on_heap_ = false;
    expected_size_ = 0;
    heap_.clear();
}

std::string& EventRecord::to_heap(std::size_t more)
{
    if (!on_heap_) {
        heap_.reserve(std::max(expected_size_, inline_size_ + more));
        heap_.assign(inline_, inline_size_);
        inline_size_ = 0;
        on_heap_ = true;
    }
    return heap_;
}

void EventRecord::take(EventRecord& other) noexcept
{
    on_heap_ = other.on_heap_;
    inline_size_ = other.inline_size_;
    expected_size_ = other.expected_size_;
    std::memcpy(inline_, other.inline_, other.inline_size_);
    heap_ = std::move(other.heap_);
    other.clear();
}

QueuedEvent QueuedEvent::built(Event&& event)
{
    QueuedEvent queued;
    queued.parsed = std::move(event);
    return queued;
}

QueuedEvent QueuedEvent::record_of(const QueuedEvent& event)
{
    QueuedEvent copy;
    copy.record = event.record;
    copy.name_at = event.name_at;
    copy.name_size = event.name_size;
    return copy;
}

std::optional<QueuedEvent> read_canonical_event(std::string_view text)
{
    return CanonicalEventReader(text).read();
}

MessageClass classify_message_by_parser(std::string_view text)
{
    EventClassifier classifier(EventClassifier::Scope::message, EventRecord(), text.size());
    const bool whole = json::sax_parse(text.begin(), text.end(), &classifier);
    MessageClass result = std::move(classifier.result);
    if (result.kind == MessageClass::Kind::malformed)
        return result;
    if (whole && classifier.is_event()) {
        result.kind = MessageClass::Kind::event;
        result.event = classifier.take_event();
        return result;
    }
    result.kind = MessageClass::Kind::other;
    result.event = QueuedEvent();
    return result;
}

MessageClass classify_message(std::string_view text)
{
    if (plainly_not_an_event(text))
        return {};
    if (auto event = read_canonical_event(text)) {
        MessageClass result;
        result.kind = MessageClass::Kind::event;
        result.event = std::move(*event);
        return result;
    }
    return classify_message_by_parser(text);
}

Event event_from_message(json&& message)
{
    Event event;
    const json* timestamp = nullptr;
    bool named = false;
    // One pass over the few members rather than one std::map lookup each.
    for (auto& [key, value] : message.get_ref<json::object_t&>()) {
        if (key == "event") {
            if (!value.is_string()) // only from a damaged record: the reader checked
                damaged();
            event.name = value.get_ref<const std::string&>();
            named = true;
        } else if (key == "data")
            event.data = value;
        else if (key == "timestamp")
            timestamp = &value;
    }
    if (!named)
        damaged();
    event.timestamp = event_time(timestamp);
    event.raw = std::move(message); // the members stay where they are: only the tree moves
    return event;
}

const Event& parse_in_place(QueuedEvent& queued)
{
    if (queued.parsed)
        return *queued.parsed;
    // The record stays: copies for other consumers copy it, not the tree.
    queued.parsed = event_from_message(build_tree(queued.record.view()));
    return *queued.parsed;
}

Event take_event(QueuedEvent&& queued)
{
    parse_in_place(queued);
    return std::move(*queued.parsed);
}

} // namespace qmp::detail
