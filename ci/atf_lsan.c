/*
 * Linked into every ATF test program. libatf-c keeps its test-case list until
 * exit, so under ASan LeakSanitizer would report it from the listing run, and
 * Kyua counts any stderr output from a listing as a broken program. Leaks in
 * our own code are still reported. Strong definitions: clang's static ASan
 * runtime has weak defaults of its own. Harmless in builds without ASan.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

const char *__lsan_default_suppressions(void)
{
    return "leak:libatf-c.so\n";
}

const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}
