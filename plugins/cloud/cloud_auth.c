/* SPDX-License-Identifier: Apache-2.0 */
#include "cloud_auth.h"
