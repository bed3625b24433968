import Testing
@testable import BertCheckRendering

@Suite struct StatFormatTests {
    @Test func statisticsFitTwelveCharacters() {
        #expect(short(0.0831) == "0.0831")
        #expect(short(-1.752792) == "-1.752792")
        #expect(short(-3.6646376e-05) == "-3.665e-05")
        #expect(short(1.5e-9) == "1.500e-09")
        #expect(short(123456.0) == "1.235e+05")
        #expect(short(9.99999e-4) == "1.000e-03")
        #expect(short(.nan) == "nan")
        #expect(short(-.infinity) == "-inf")
        for v in [-1.23456789e-300, 9.87654321e300, -99999.9999, 0.00100001] { #expect(short(v).count <= 12, "\(v)") }
    }
}
