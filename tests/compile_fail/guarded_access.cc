// Must compile under clang -Wthread-safety -Werror: the same class as
// unguarded_access.cc with the lock taken, and a CondVar wait.
#include "omnirelay/config/mutex.h"

namespace {

class Counter {
 public:
  void Bump() {
    omnirelay::MutexLock lock(mu_);
    ++value_;
    cv_.NotifyAll();
  }
  int WaitPositive() {
    omnirelay::MutexLock lock(mu_);
    while (value_ <= 0) cv_.Wait(mu_);
    return value_;
  }

 private:
  omnirelay::Mutex mu_;
  omnirelay::CondVar cv_;
  int value_ GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  Counter c;
  c.Bump();
  return c.WaitPositive() == 1 ? 0 : 1;
}
