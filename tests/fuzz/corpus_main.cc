// Corpus replayer: feeds every regular file under the given files and
// directories (recursively, in sorted order) to LLVMFuzzerTestOneInput once.
// Linked with each fuzz target into fuzz_corpus_<name>, which ctest runs over
// the checked-in seed corpus (label "fuzz"), so the corpus is replayed on
// every CI run even when the compiler has no libFuzzer. A crash fails the
// test; so does a missing path or a corpus with no inputs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

// Appends the regular files at `path` (itself, or everything below it) to `out`.
bool CollectInputs(const fs::path& path, std::vector<fs::path>& out) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    std::fprintf(stderr, "fuzz corpus: cannot open %s\n", path.c_str());
    return false;
  }
  if (fs::is_regular_file(status)) {
    out.push_back(path);
    return true;
  }
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) found.push_back(it->path());
  }
  if (ec) {
    std::fprintf(stderr, "fuzz corpus: cannot list %s: %s\n", path.c_str(), ec.message().c_str());
    return false;
  }
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
  return true;
}

bool ReadFile(const fs::path& path, std::vector<std::uint8_t>& data) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> inputs;
  bool ok = true;
  for (int i = 1; i < argc; ++i) ok = CollectInputs(argv[i], inputs) && ok;

  std::size_t replayed = 0;
  std::size_t unreadable = 0;
  std::vector<std::uint8_t> data;
  for (const fs::path& input : inputs) {
    if (!ReadFile(input, data)) {
      std::fprintf(stderr, "fuzz corpus: cannot read %s\n", input.c_str());
      ++unreadable;
      continue;
    }
    // Copy into an exact-size buffer so that reads past the end are caught by sanitizers
    // (libFuzzer does the same); a zero-length input still gets a valid pointer.
    std::vector<std::uint8_t> exact(data.begin(), data.end());
    const std::uint8_t dummy = 0;
    LLVMFuzzerTestOneInput(exact.empty() ? &dummy : exact.data(), exact.size());
    ++replayed;
  }
  std::printf("fuzz corpus: %zu inputs replayed, %zu passed, %zu failed\n", replayed, replayed,
              unreadable);
  if (replayed == 0) {
    std::fprintf(stderr, "fuzz corpus: no inputs found\n");
    return 1;
  }
  return ok && unreadable == 0 ? 0 : 1;
}
