// Must NOT compile under clang -Wthread-safety -Werror: proves the lock
// annotations of omnirelay/config/mutex.h are checked, not comments.
#include "omnirelay/config/mutex.h"

namespace {

class Counter {
 public:
  void Bump() { ++value_; }  // error: writing value_ requires holding mu_

 private:
  omnirelay::Mutex mu_;
  int value_ GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  Counter c;
  c.Bump();
}
