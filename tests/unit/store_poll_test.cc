// The store poll (store_poll.h): a commit or a token revocation that another
// replica made, whose bus event never arrived, still reaches this replica's
// handlers — after one more tick, never for what this replica heard.
#include "store_poll.h"

#include <gtest/gtest.h>

#include "bus_events.h"
#include "omnirelay/config/digest.h"

namespace omnirelay::cp {
namespace {

using testing::Seen;

class StorePollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(SqliteOptions{":memory:"});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    bus_->Subscribe([this](const ChangeEvent& e) { seen_.Add(e); });
  }

  // A write the way another replica makes it: in the store, no event here.
  std::int64_t WriteElsewhere(const std::string& scope, const std::string& doc) {
    LayerWrite w;
    w.scope = scope;
    w.document = doc;
    w.author = "other-replica";
    auto r = store_->WriteLayer(w);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : -1;
  }

  std::unique_ptr<StorePoll> Poll() {
    StorePollOptions o;
    o.manual_for_test = true;
    o.token_every = 1;
    return std::make_unique<StorePoll>(*store_, *bus_, metrics_, o);
  }

  // The inproc bus hands events on from its own thread.
  void Settle() {
    ChangeEvent marker;
    marker.revision = -7;
    ASSERT_TRUE(bus_->Publish(marker).ok());
    ASSERT_TRUE(seen_.WaitFor(++published_ + repaired_));
  }
  std::vector<ChangeEvent> Repairs() {
    std::vector<ChangeEvent> out;
    for (auto& e : seen_.events()) {
      if (e.revision != -7 && e.hashes != std::vector<std::string>{"heard"}) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<Store> store_;
  MetricsRegistry metrics_;
  Seen seen_;
  std::unique_ptr<Bus> bus_ = MakeInprocBus();
  std::size_t published_ = 0;
  std::size_t repaired_ = 0;
};

TEST_F(StorePollTest, AnUnheardCommitIsRepairedAtTheSecondTick) {
  WriteElsewhere("global", "{\"v\":0}");  // before the start: not a repair
  auto poll = Poll();
  WriteElsewhere("global", "{\"v\":1}");
  const std::int64_t r3 = WriteElsewhere("region:eu-west", "{\"v\":2}");
  poll->Tick();  // ahead, but its event may be on the way
  Settle();
  EXPECT_TRUE(Repairs().empty());
  poll->Tick();  // still unheard: repaired
  repaired_ = 1;
  Settle();
  const auto repairs = Repairs();
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].revision, r3);
  EXPECT_EQ(repairs[0].scopes, (std::vector<std::string>{"global", "region:eu-west"}));
  EXPECT_EQ(repairs[0].hashes,
            (std::vector<std::string>{ContentId("{\"v\":1}"), ContentId("{\"v\":2}")}));
  poll->Tick();  // heard now (its own repair event): nothing more
  poll->Tick();
  Settle();
  EXPECT_EQ(Repairs().size(), 1u);
}

TEST_F(StorePollTest, ACommitWhoseEventArrivesIsNotRepaired) {
  auto poll = Poll();
  const std::int64_t r = WriteElsewhere("global", "{\"v\":1}");
  poll->Tick();       // ahead of what was heard
  ChangeEvent event;  // ... and then its event arrives
  event.revision = r;
  event.scopes = {"global"};
  event.hashes = {"heard"};
  ASSERT_TRUE(bus_->Publish(event).ok());
  ++published_;
  Settle();  // handed to every handler, the poll's too
  poll->Tick();
  poll->Tick();
  Settle();
  EXPECT_TRUE(Repairs().empty());
}

TEST_F(StorePollTest, AnUnheardRevocationClosesItsStreams) {
  TokenRecord before;
  before.id = "tok-old";
  before.secret_hash = "h0";
  before.name = "old";
  ASSERT_TRUE(store_->CreateToken(before, AuditEntry{}).ok());
  ASSERT_TRUE(store_->RevokeToken("tok-old", 1, AuditEntry{}).ok());  // before the start
  TokenRecord t;
  t.id = "tok-1";
  t.secret_hash = "h1";
  t.name = "node:n1";
  ASSERT_TRUE(store_->CreateToken(t, AuditEntry{}).ok());
  auto poll = Poll();
  ASSERT_TRUE(store_->RevokeToken("tok-1", 2, AuditEntry{}).ok());
  poll->Tick();
  Settle();
  EXPECT_TRUE(Repairs().empty());
  poll->Tick();
  repaired_ = 1;
  Settle();
  const auto repairs = Repairs();
  ASSERT_EQ(repairs.size(), 1u);
  EXPECT_EQ(repairs[0].revoked_tokens, std::vector<std::string>{"tok-1"});
  poll->Tick();
  poll->Tick();
  Settle();
  EXPECT_EQ(Repairs().size(), 1u);
}

}  // namespace
}  // namespace omnirelay::cp
