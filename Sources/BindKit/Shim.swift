import CBindShim
