// Asio, its SSL layer and Beast are compiled here once (BOOST_*_SEPARATE_COMPILATION), rather
// than in every translation unit that uses them.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
